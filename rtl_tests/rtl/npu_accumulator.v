`timescale 1ns/1ps
// npu_accumulator: the accumulator scratchpad, COLS int32 lanes per word, with the adder in
// its write path. At an edge where wr_valid is high, every lane j with wr_lane_en[j] becomes
//   wr_accumulate ? old + wr_data[j] : wr_data[j]   (int32, wrapping).
// A second (host) port reads combinationally and writes whole words; the unit's write wins.
module npu_accumulator #(
    parameter integer COLS = 4,
    parameter integer ADDR_BITS = 13
) (
    input  wire                 clk,
    input  wire                 wr_valid,
    input  wire [ADDR_BITS-1:0] wr_addr,
    input  wire [     COLS-1:0] wr_lane_en,
    input  wire                 wr_accumulate,
    input  wire [  COLS*32-1:0] wr_data,
    input  wire                 host_we,
    input  wire [ADDR_BITS-1:0] host_addr,
    input  wire [  COLS*32-1:0] host_wdata,
    output wire [  COLS*32-1:0] host_rdata
);
    reg [COLS*32-1:0] mem[0:(1 << ADDR_BITS) - 1];
    wire [COLS*32-1:0] old = mem[wr_addr];
    reg [COLS*32-1:0] merged;
    integer j;
    always @(*) begin
        for (j = 0; j < COLS; j = j + 1) begin
            if (!wr_lane_en[j]) merged[j*32+:32] = old[j*32+:32];
            else if (wr_accumulate) merged[j*32+:32] = old[j*32+:32] + wr_data[j*32+:32];
            else merged[j*32+:32] = wr_data[j*32+:32];
        end
    end
    always @(posedge clk) begin
        if (host_we) mem[host_addr] <= host_wdata;
        if (wr_valid) mem[wr_addr] <= merged;
    end
    assign host_rdata = mem[host_addr];
endmodule
