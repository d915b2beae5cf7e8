`timescale 1ns/1ps
// npu_pe: one weight-stationary processing element of the systolic array.
//
// Every clock edge:
//   a_out    <= a_in                      (the activation moves one PE to the right)
//   psum_out <= psum_in + a_in * weight   (the partial sum moves one PE down)
//   weight   <= w_in  if w_load           (the stationary weight; the write wavefront of the
//                                          next fold follows the last activation of this one)
// A weight written at edge e is used from edge e + 1 on; a product at edge e uses the weight
// held before e. Operands are signed A_BITS integers; the sum wraps at ACC_BITS.
module npu_pe #(
    parameter integer A_BITS   = 8,
    parameter integer ACC_BITS = 32
) (
    input  wire                       clk,
    input  wire                       w_load,
    input  wire signed [  A_BITS-1:0] w_in,
    input  wire signed [  A_BITS-1:0] a_in,
    input  wire signed [ACC_BITS-1:0] psum_in,
    output reg signed  [  A_BITS-1:0] a_out,
    output reg signed  [ACC_BITS-1:0] psum_out
);
    reg signed [A_BITS-1:0] weight;
    wire signed [2*A_BITS-1:0] product = a_in * weight;
    wire signed [ACC_BITS-1:0] product_ext = {{(ACC_BITS - 2 * A_BITS) {product[2*A_BITS-1]}}, product};

    always @(posedge clk) begin
        if (w_load) weight <= w_in;
        a_out    <= a_in;
        psum_out <= psum_in + product_ext;
    end
endmodule
