`timescale 1ns/1ps
// npu_pe_os: one output-stationary processing element.
//
// Every clock edge:
//   a_out <= a_in                                  (the activation moves one PE to the right)
//   acc   <= (first ? 0 : acc) + a_in * w_in       (the C element stays in the PE)
//   c_out <= last ? (first ? 0 : acc) + a_in * w_in (the finished element is captured...)
//                 : c_in                           (...else the drain chain moves one PE down)
// w_in is broadcast down the PE's column; first and last mark the fold's first and last k.
// Operands are signed A_BITS integers; sums wrap at ACC_BITS.
module npu_pe_os #(
    parameter integer A_BITS   = 8,
    parameter integer ACC_BITS = 32
) (
    input  wire                       clk,
    input  wire                       first,
    input  wire                       last,
    input  wire signed [  A_BITS-1:0] a_in,
    input  wire signed [  A_BITS-1:0] w_in,
    input  wire signed [ACC_BITS-1:0] c_in,
    output reg signed  [  A_BITS-1:0] a_out,
    output reg signed  [ACC_BITS-1:0] c_out
);
    reg signed [ACC_BITS-1:0] acc;
    wire signed [2*A_BITS-1:0] product = a_in * w_in;
    wire signed [ACC_BITS-1:0] product_ext = {{(ACC_BITS - 2 * A_BITS) {product[2*A_BITS-1]}}, product};
    wire signed [ACC_BITS-1:0] sum = (first ? {ACC_BITS{1'b0}} : acc) + product_ext;

    always @(posedge clk) begin
        a_out <= a_in;
        acc   <= sum;
        c_out <= last ? sum : c_in;
    end
endmodule
