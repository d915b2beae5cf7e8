`timescale 1ns/1ps
// npu_vector_top: the vector unit with its operand scratchpads (src0, src1, src2: LANES int32 per
// word, read together) and an element-addressed destination with LANES write ports, plus host
// ports to fill and read them: the unit the cocotb bench drives. Timing is npu_vector_unit's.
module npu_vector_top #(
    parameter integer LANES = 4,
    parameter integer PIPELINE_DEPTH = 4,
    parameter integer ADDR_BITS = 12,
    parameter integer IDX_BITS = 14
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        start,
    input  wire [ 7:0] opcode,
    input  wire [ 7:0] func,
    input  wire [31:0] elements,
    input  wire [15:0] row_len,
    input  wire [31:0] imm0,
    input  wire [31:0] imm1,
    input  wire [31:0] imm2,
    input  wire [ 2:0] dst_dtype,
    output wire        busy,
    output wire        done,
    output wire        bad_op,

    input wire                 host_s0_we,
    input wire [ADDR_BITS-1:0] host_s0_addr,
    input wire [ LANES*32-1:0] host_s0_wdata,

    input wire                 host_s1_we,
    input wire [ADDR_BITS-1:0] host_s1_addr,
    input wire [ LANES*32-1:0] host_s1_wdata,

    input wire                 host_s2_we,
    input wire [ADDR_BITS-1:0] host_s2_addr,
    input wire [ LANES*32-1:0] host_s2_wdata,

    input  wire [IDX_BITS-1:0] host_d_addr,
    output wire [        31:0] host_d_rdata
);
    wire                      rd_en;
    wire [     ADDR_BITS-1:0] rd_addr;
    wire [      LANES*32-1:0] src0_data, src1_data, src2_data, wr_data;
    wire [         LANES-1:0] wr_en;
    wire [LANES*IDX_BITS-1:0] wr_idx;

    npu_sram #(
        .WIDTH(LANES * 32),
        .ADDR_BITS(ADDR_BITS)
    ) u_src0 (
        .clk(clk),
        .rd_en(rd_en),
        .rd_addr(rd_addr),
        .rd_data(src0_data),
        .wr_en(host_s0_we),
        .wr_addr(host_s0_addr),
        .wr_data(host_s0_wdata)
    );

    npu_sram #(
        .WIDTH(LANES * 32),
        .ADDR_BITS(ADDR_BITS)
    ) u_src1 (
        .clk(clk),
        .rd_en(rd_en),
        .rd_addr(rd_addr),
        .rd_data(src1_data),
        .wr_en(host_s1_we),
        .wr_addr(host_s1_addr),
        .wr_data(host_s1_wdata)
    );

    npu_sram #(
        .WIDTH(LANES * 32),
        .ADDR_BITS(ADDR_BITS)
    ) u_src2 (
        .clk(clk),
        .rd_en(rd_en),
        .rd_addr(rd_addr),
        .rd_data(src2_data),
        .wr_en(host_s2_we),
        .wr_addr(host_s2_addr),
        .wr_data(host_s2_wdata)
    );

    reg [31:0] dst[0:(1 << IDX_BITS) - 1];
    integer l;
    always @(posedge clk) begin
        for (l = 0; l < LANES; l = l + 1) begin
            if (wr_en[l]) dst[wr_idx[l*IDX_BITS+:IDX_BITS]] <= wr_data[l*32+:32];
        end
    end
    assign host_d_rdata = dst[host_d_addr];

    npu_vector_unit #(
        .LANES(LANES),
        .PIPELINE_DEPTH(PIPELINE_DEPTH),
        .ADDR_BITS(ADDR_BITS),
        .IDX_BITS(IDX_BITS)
    ) u_vector (
        .clk(clk),
        .rst(rst),
        .start(start),
        .opcode(opcode),
        .func(func),
        .elements(elements),
        .row_len(row_len),
        .imm0(imm0),
        .imm1(imm1),
        .imm2(imm2),
        .dst_dtype(dst_dtype),
        .busy(busy),
        .done(done),
        .bad_op(bad_op),
        .rd_en(rd_en),
        .rd_addr(rd_addr),
        .src0_data(src0_data),
        .src1_data(src1_data),
        .src2_data(src2_data),
        .wr_en(wr_en),
        .wr_idx(wr_idx),
        .wr_data(wr_data)
    );
endmodule
