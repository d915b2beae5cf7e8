`timescale 1ns/1ps
// npu_systolic_array: a ROWS x COLS weight-stationary int8 x int8 -> int32 array with the
// controller that runs one MatMul tile, C[M,N] (+)= A[M,K] @ W[K,N], fold by fold.
//
// Mapping. W is cut into F = ceil(K/ROWS) * ceil(N/COLS) folds of ROWS x COLS, n-block outer,
// k-block inner. PE(i,j) holds W[k0+i, n0+j]; activation row m enters array row i skewed by
// i cycles and moves right; partial sums move down; column j's sum for row m leaves the
// bottom skewed by j cycles and is deskewed so that the whole row of COLS sums reaches the
// accumulator port at once. Out-of-range rows (k >= K) get zero weights and zero activations;
// out-of-range columns (n >= N) are not written (out_lane_en).
//
// Operand ports (synchronous scratchpads, data one cycle after the address):
//   A: word = ROWS int8 lanes; lane i of word kb*M + m is A[m, kb*ROWS + i].
//   W: word = COLS int8 lanes; lane j of word f*ROWS + i is W[kb*ROWS + i, nb*COLS + j], where
//      f = nb * ceil(K/ROWS) + kb is the fold number.
//   C: out_* writes one row per cycle: lane j of word nb*M + m gets C[m, nb*COLS + j];
//      the accumulator adds to the stored value when out_accumulate, else overwrites.
//
// Schedule. A fold takes P = max(M, ROWS) issue slots: slot t reads W row t (t < ROWS) and,
// one cycle behind it, A row t (t < M). W rows are written into the PEs with the same
// diagonal skew as the activations (row i at +i, column j at +j), so the weight wavefront of
// fold f+1 follows the last activation of fold f through the array and each PE needs only
// one weight register. W's one-row-per-cycle port is why a fold occupies max(M, ROWS) slots.
//
// Timing contract (counted in rising edges; edge 0 samples start=1 while busy=0):
//   done pulses, and the last row is written, at edge
//     cycles = (F - 1) * max(M, ROWS) + M + ROWS + COLS + 1
//   = slots of all folds but the last + M slots of the last fold + 1 (A one slot behind W)
//     + 1 (scratchpad read) + ROWS + COLS - 1 (PE(0,0) to PE(ROWS-1,COLS-1)) + 1 (write).
//   This is simulator.cost.matmul_cycles for the npu timing, weight-stationary dataflow.
// Preconditions: M, K, N >= 1; operands fit the address widths.
module npu_systolic_array #(
    parameter integer ROWS = 4,
    parameter integer COLS = 4,
    parameter integer A_ADDR_BITS = 13,
    parameter integer W_ADDR_BITS = 13,
    parameter integer C_ADDR_BITS = 13
) (
    input wire clk,
    input wire rst,

    // Command: sampled at the edge where start is high and busy is low.
    input  wire        start,
    input  wire [15:0] m,
    input  wire [15:0] k,
    input  wire [15:0] n,
    input  wire        accumulate,
    input  wire [ 7:0] opcode,      // must be OPCODE_MATMUL
    output reg         busy,
    output reg         done,        // one-cycle pulse with the write of the last result row
    output reg         bad_opcode,  // pulses instead of starting when opcode is not MATMUL

    output wire                   a_rd_en,
    output wire [A_ADDR_BITS-1:0] a_rd_addr,
    input  wire [     ROWS*8-1:0] a_rd_data,

    output wire                   w_rd_en,
    output wire [W_ADDR_BITS-1:0] w_rd_addr,
    input  wire [     COLS*8-1:0] w_rd_data,

    output wire                   out_valid,
    output wire [C_ADDR_BITS-1:0] out_addr,
    output wire [       COLS-1:0] out_lane_en,
    output wire                   out_accumulate,
    output wire [    COLS*32-1:0] out_data
);
`include "npu_isa.vh"

    localparam integer ROW_BITS = (ROWS > 1) ? $clog2(ROWS) : 1;
    localparam [31:0] ROWS32 = ROWS;
    localparam [31:0] COLS32 = COLS;

    // ---------------------------------------------------------------- controller
    reg [31:0] m_q, k_q, n_q, period;
    reg        acc_q;
    reg        issuing;
    reg [31:0] t;  // issue slot within the fold
    reg [31:0] k0, n0;  // the fold's first k and n
    reg [W_ADDR_BITS-1:0] w_base;
    reg [A_ADDR_BITS-1:0] a_base;
    reg [C_ADDR_BITS-1:0] c_base;

    wire w_issue = issuing && (t < ROWS32);
    wire a_issue = issuing && (t < m_q);
    wire k_last = (k0 + ROWS32 >= k_q);
    wire last_fold = k_last && (n0 + COLS32 >= n_q);
    wire end_slot = (t == period - 1);
    wire last_row_done;

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            done <= 1'b0;
            bad_opcode <= 1'b0;
            issuing <= 1'b0;
        end else begin
            done <= 1'b0;
            bad_opcode <= 1'b0;
            if (start && !busy && opcode != OPCODE_MATMUL) begin
                bad_opcode <= 1'b1;
            end else if (start && !busy) begin
                busy <= 1'b1;
                issuing <= 1'b1;
                m_q <= {16'd0, m};
                k_q <= {16'd0, k};
                n_q <= {16'd0, n};
                period <= ({16'd0, m} > ROWS32) ? {16'd0, m} : ROWS32;
                acc_q <= accumulate;
                t <= 32'd0;
                k0 <= 32'd0;
                n0 <= 32'd0;
                w_base <= {W_ADDR_BITS{1'b0}};
                a_base <= {A_ADDR_BITS{1'b0}};
                c_base <= {C_ADDR_BITS{1'b0}};
            end
            if (issuing) begin
                if (!end_slot) begin
                    t <= t + 32'd1;
                end else if (last_fold) begin
                    issuing <= 1'b0;
                end else begin
                    t <= 32'd0;
                    w_base <= w_base + ROWS32[W_ADDR_BITS-1:0];
                    if (k_last) begin
                        k0 <= 32'd0;
                        n0 <= n0 + COLS32;
                        a_base <= {A_ADDR_BITS{1'b0}};
                        c_base <= c_base + m_q[C_ADDR_BITS-1:0];
                    end else begin
                        k0 <= k0 + ROWS32;
                        a_base <= a_base + m_q[A_ADDR_BITS-1:0];
                    end
                end
            end
            if (last_row_done) begin
                done <= 1'b1;
                busy <= 1'b0;
            end
        end
    end

    // ---------------------------------------------------------------- W path
    assign w_rd_en   = w_issue;
    assign w_rd_addr = w_base + t[W_ADDR_BITS-1:0];

    reg                w1_valid, w1_kvalid;
    reg [ROW_BITS-1:0] w1_row;
    always @(posedge clk) begin
        if (rst) begin
            w1_valid <= 1'b0;
        end else begin
            w1_valid <= w_issue;
        end
        w1_row <= t[ROW_BITS-1:0];
        w1_kvalid <= (k0 + t < k_q);
    end

    // Lane j of the weight bus is delayed j cycles: the diagonal write wavefront.
    wire [COLS-1:0] wl_valid;
    wire [ROW_BITS-1:0] wl_row[0:COLS-1];
    wire [7:0] wl_data[0:COLS-1];
    genvar gi, gj;
    generate
        for (gj = 0; gj < COLS; gj = gj + 1) begin : g_wlane
            wire [7:0] masked = w1_kvalid ? w_rd_data[gj*8+:8] : 8'd0;
            npu_delay #(
                .WIDTH(1 + ROW_BITS + 8),
                .DEPTH(gj)
            ) u_skew (
                .clk(clk),
                .rst(rst),
                .d  ({w1_valid, w1_row, masked}),
                .q  ({wl_valid[gj], wl_row[gj], wl_data[gj]})
            );
        end
    endgenerate

    // ---------------------------------------------------------------- A path
    reg                   a0_valid, a0_over, a0_last;
    reg [A_ADDR_BITS-1:0] a0_addr;
    reg [C_ADDR_BITS-1:0] a0_caddr;
    reg [       ROWS-1:0] a0_kmask;
    reg [       COLS-1:0] a0_nmask;
    integer li;
    always @(posedge clk) begin
        if (rst) begin
            a0_valid <= 1'b0;
        end else begin
            a0_valid <= a_issue;
        end
        a0_addr  <= a_base + t[A_ADDR_BITS-1:0];
        a0_caddr <= c_base + t[C_ADDR_BITS-1:0];
        a0_over  <= (k0 == 32'd0) && !acc_q;
        a0_last  <= last_fold && (t == m_q - 1);
        for (li = 0; li < ROWS; li = li + 1) a0_kmask[li] <= (k0 + li < k_q);
        for (li = 0; li < COLS; li = li + 1) a0_nmask[li] <= (n0 + li < n_q);
    end
    assign a_rd_en   = a0_valid;
    assign a_rd_addr = a0_addr;

    reg                   a1_valid, a1_over, a1_last;
    reg [C_ADDR_BITS-1:0] a1_caddr;
    reg [       ROWS-1:0] a1_kmask;
    reg [       COLS-1:0] a1_nmask;
    always @(posedge clk) begin
        if (rst) begin
            a1_valid <= 1'b0;
            a1_last  <= 1'b0;
        end else begin
            a1_valid <= a0_valid;
            a1_last  <= a0_valid && a0_last;
        end
        a1_caddr <= a0_caddr;
        a1_over  <= a0_over;
        a1_kmask <= a0_kmask;
        a1_nmask <= a0_nmask;
    end

    // Lane i of the activation bus is delayed i cycles: the input skew.
    wire [7:0] feed[0:ROWS-1];
    generate
        for (gi = 0; gi < ROWS; gi = gi + 1) begin : g_alane
            wire [7:0] masked = (a1_valid && a1_kmask[gi]) ? a_rd_data[gi*8+:8] : 8'd0;
            npu_delay #(
                .WIDTH(8),
                .DEPTH(gi)
            ) u_skew (
                .clk(clk),
                .rst(rst),
                .d  (masked),
                .q  (feed[gi])
            );
        end
    endgenerate

    // ---------------------------------------------------------------- PE grid
    wire [ 7:0] a_link[0:ROWS-1][0:COLS];
    wire [31:0] p_link[0:ROWS][0:COLS-1];
    generate
        for (gi = 0; gi < ROWS; gi = gi + 1) begin : g_row
            assign a_link[gi][0] = feed[gi];
            for (gj = 0; gj < COLS; gj = gj + 1) begin : g_col
                if (gi == 0) begin : g_top
                    assign p_link[0][gj] = 32'd0;
                end
                npu_pe #(
                    .A_BITS  (8),
                    .ACC_BITS(32)
                ) u_pe (
                    .clk     (clk),
                    .w_load  (wl_valid[gj] && (wl_row[gj] == gi)),
                    .w_in    (wl_data[gj]),
                    .a_in    (a_link[gi][gj]),
                    .psum_in (p_link[gi][gj]),
                    .a_out   (a_link[gi][gj+1]),
                    .psum_out(p_link[gi+1][gj])
                );
            end
        end
    endgenerate

    // ---------------------------------------------------------------- output deskew
    generate
        for (gj = 0; gj < COLS; gj = gj + 1) begin : g_deskew
            npu_delay #(
                .WIDTH(32),
                .DEPTH(COLS - 1 - gj)
            ) u_deskew (
                .clk(clk),
                .rst(rst),
                .d  (p_link[ROWS][gj]),
                .q  (out_data[gj*32+:32])
            );
        end
    endgenerate

    // Row control travels with the data: ROWS + COLS - 1 cycles from the A read to the bottom
    // right PE's output.
    wire out_over, out_last;
    npu_delay #(
        .WIDTH(3 + C_ADDR_BITS + COLS),
        .DEPTH(ROWS + COLS - 1)
    ) u_ctl (
        .clk(clk),
        .rst(rst),
        .d  ({a1_valid, a1_last, a1_over, a1_caddr, a1_nmask}),
        .q  ({out_valid, out_last, out_over, out_addr, out_lane_en})
    );
    assign out_accumulate = !out_over;
    assign last_row_done  = out_valid && out_last;

    /* verilator lint_off UNUSEDSIGNAL */
    wire [ROWS-1:0] unused_a_out;  // activations leaving the right edge
    /* verilator lint_on UNUSEDSIGNAL */
    generate
        for (gi = 0; gi < ROWS; gi = gi + 1) begin : g_unused
            assign unused_a_out[gi] = ^a_link[gi][COLS];
        end
    endgenerate
endmodule
