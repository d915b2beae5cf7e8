`timescale 1ns/1ps
// npu_matrix_top: the systolic array with its three scratchpads (A, W, accumulator) and host
// ports to fill and read them: the unit the cocotb bench drives. The host ports are for the
// test bench (in the NPU they are the DMA engines' ports); timing is the array's.
// OUTPUT_STATIONARY = 0: npu_systolic_array (weight-stationary); 1: npu_systolic_array_os.
// Both arrays have the same ports; their A and W word layouts differ (see each module).
module npu_matrix_top #(
    parameter integer OUTPUT_STATIONARY = 0,
    parameter integer ROWS = 4,
    parameter integer COLS = 4,
    parameter integer A_ADDR_BITS = 13,
    parameter integer W_ADDR_BITS = 13,
    parameter integer C_ADDR_BITS = 13
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        start,
    input  wire [ 7:0] opcode,
    input  wire [15:0] m,
    input  wire [15:0] k,
    input  wire [15:0] n,
    input  wire        accumulate,
    output wire        busy,
    output wire        done,
    output wire        bad_opcode,

    input wire                   host_a_we,
    input wire [A_ADDR_BITS-1:0] host_a_addr,
    input wire [     ROWS*8-1:0] host_a_wdata,

    input wire                   host_w_we,
    input wire [W_ADDR_BITS-1:0] host_w_addr,
    input wire [     COLS*8-1:0] host_w_wdata,

    input  wire                   host_c_we,
    input  wire [C_ADDR_BITS-1:0] host_c_addr,
    input  wire [    COLS*32-1:0] host_c_wdata,
    output wire [    COLS*32-1:0] host_c_rdata
);
    wire                   a_rd_en, w_rd_en, out_valid, out_accumulate;
    wire [A_ADDR_BITS-1:0] a_rd_addr;
    wire [W_ADDR_BITS-1:0] w_rd_addr;
    wire [C_ADDR_BITS-1:0] out_addr;
    wire [     ROWS*8-1:0] a_rd_data;
    wire [     COLS*8-1:0] w_rd_data;
    wire [       COLS-1:0] out_lane_en;
    wire [    COLS*32-1:0] out_data;

    npu_sram #(
        .WIDTH(ROWS * 8),
        .ADDR_BITS(A_ADDR_BITS)
    ) u_a (
        .clk(clk),
        .rd_en(a_rd_en),
        .rd_addr(a_rd_addr),
        .rd_data(a_rd_data),
        .wr_en(host_a_we),
        .wr_addr(host_a_addr),
        .wr_data(host_a_wdata)
    );

    npu_sram #(
        .WIDTH(COLS * 8),
        .ADDR_BITS(W_ADDR_BITS)
    ) u_w (
        .clk(clk),
        .rd_en(w_rd_en),
        .rd_addr(w_rd_addr),
        .rd_data(w_rd_data),
        .wr_en(host_w_we),
        .wr_addr(host_w_addr),
        .wr_data(host_w_wdata)
    );

    npu_accumulator #(
        .COLS(COLS),
        .ADDR_BITS(C_ADDR_BITS)
    ) u_c (
        .clk(clk),
        .wr_valid(out_valid),
        .wr_addr(out_addr),
        .wr_lane_en(out_lane_en),
        .wr_accumulate(out_accumulate),
        .wr_data(out_data),
        .host_we(host_c_we),
        .host_addr(host_c_addr),
        .host_wdata(host_c_wdata),
        .host_rdata(host_c_rdata)
    );

    generate
        if (OUTPUT_STATIONARY != 0) begin : g_os
            npu_systolic_array_os #(
                .ROWS(ROWS),
                .COLS(COLS),
                .A_ADDR_BITS(A_ADDR_BITS),
                .W_ADDR_BITS(W_ADDR_BITS),
                .C_ADDR_BITS(C_ADDR_BITS)
            ) u_array (
                .clk(clk),
                .rst(rst),
                .start(start),
                .m(m),
                .k(k),
                .n(n),
                .accumulate(accumulate),
                .opcode(opcode),
                .busy(busy),
                .done(done),
                .bad_opcode(bad_opcode),
                .a_rd_en(a_rd_en),
                .a_rd_addr(a_rd_addr),
                .a_rd_data(a_rd_data),
                .w_rd_en(w_rd_en),
                .w_rd_addr(w_rd_addr),
                .w_rd_data(w_rd_data),
                .out_valid(out_valid),
                .out_addr(out_addr),
                .out_lane_en(out_lane_en),
                .out_accumulate(out_accumulate),
                .out_data(out_data)
            );
        end else begin : g_ws
            npu_systolic_array #(
                .ROWS(ROWS),
                .COLS(COLS),
                .A_ADDR_BITS(A_ADDR_BITS),
                .W_ADDR_BITS(W_ADDR_BITS),
                .C_ADDR_BITS(C_ADDR_BITS)
            ) u_array (
                .clk(clk),
                .rst(rst),
                .start(start),
                .m(m),
                .k(k),
                .n(n),
                .accumulate(accumulate),
                .opcode(opcode),
                .busy(busy),
                .done(done),
                .bad_opcode(bad_opcode),
                .a_rd_en(a_rd_en),
                .a_rd_addr(a_rd_addr),
                .a_rd_data(a_rd_data),
                .w_rd_en(w_rd_en),
                .w_rd_addr(w_rd_addr),
                .w_rd_data(w_rd_data),
                .out_valid(out_valid),
                .out_addr(out_addr),
                .out_lane_en(out_lane_en),
                .out_accumulate(out_accumulate),
                .out_data(out_data)
            );
        end
    endgenerate
endmodule
