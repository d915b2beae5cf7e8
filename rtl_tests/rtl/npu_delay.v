`timescale 1ns/1ps
// A DEPTH-stage shift register (DEPTH = 0: a wire). Reset clears every stage.
// Timing: q(t) = d(t - DEPTH) in clock cycles.
module npu_delay #(
    parameter integer WIDTH = 1,
    parameter integer DEPTH = 1
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [WIDTH-1:0] d,
    output wire [WIDTH-1:0] q
);
    generate
        if (DEPTH == 0) begin : g_wire
            assign q = d;
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused_clk_rst = clk ^ rst;
            /* verilator lint_on UNUSEDSIGNAL */
        end else begin : g_regs
            reg [WIDTH-1:0] stage[0:DEPTH-1];
            integer s;
            always @(posedge clk) begin
                if (rst) begin
                    for (s = 0; s < DEPTH; s = s + 1) stage[s] <= {WIDTH{1'b0}};
                end else begin
                    stage[0] <= d;
                    for (s = 1; s < DEPTH; s = s + 1) stage[s] <= stage[s-1];
                end
            end
            assign q = stage[DEPTH-1];
        end
    endgenerate
endmodule
