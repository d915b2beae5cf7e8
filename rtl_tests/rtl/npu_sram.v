`timescale 1ns/1ps
// A single-port-read, single-port-write synchronous SRAM (a scratchpad bank model).
// Read: rd_data holds mem[rd_addr] from the clock edge after rd_en is high, until the next read.
// Write: mem[wr_addr] <= wr_data at the clock edge where wr_en is high.
module npu_sram #(
    parameter integer WIDTH = 32,
    parameter integer ADDR_BITS = 10
) (
    input  wire                 clk,
    input  wire                 rd_en,
    input  wire [ADDR_BITS-1:0] rd_addr,
    output reg  [    WIDTH-1:0] rd_data,
    input  wire                 wr_en,
    input  wire [ADDR_BITS-1:0] wr_addr,
    input  wire [    WIDTH-1:0] wr_data
);
    reg [WIDTH-1:0] mem[0:(1 << ADDR_BITS) - 1];
    always @(posedge clk) begin
        if (rd_en) rd_data <= mem[rd_addr];
        if (wr_en) mem[wr_addr] <= wr_data;
    end
endmodule
