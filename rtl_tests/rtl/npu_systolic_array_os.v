`timescale 1ns/1ps
// npu_systolic_array_os: a ROWS x COLS output-stationary int8 x int8 -> int32 array with the
// controller that runs one MatMul tile, C[M,N] (+)= A[M,K] @ W[K,N], fold by fold.
//
// Mapping. C is cut into F = ceil(M/ROWS) * ceil(N/COLS) folds of ROWS x COLS, n-block outer,
// m-block inner. PE(i,j) accumulates C[m0+i, n0+j] while the fold's K operand pairs stream:
// at slot k, A[m0+i, k] enters array row i and moves right one PE per cycle; W[k, n0+j] is
// delayed j cycles and broadcast down column j, so it meets A[., k] in every PE of the column
// at the same edge: a column finishes its fold at one edge, one cycle after its left neighbour.
// Finishing, each PE drops its sum into the column's drain chain (c_out), which moves one PE
// down per cycle, so the column's sums leave the bottom one per cycle, row ROWS-1 first; the
// columns are deskewed so that one whole row of C reaches the accumulator per cycle, while
// the PEs already accumulate the next fold. Rows m >= M and columns n >= N are computed on the
// scratchpads' padding and never written (out_addr is not reached / out_lane_en).
//
// Operand ports (synchronous scratchpads, data one cycle after the address):
//   A: word = ROWS int8 lanes; lane i of word mb*K + k is A[mb*ROWS + i, k].
//   W: word = COLS int8 lanes; lane j of word nb*K + k is W[k, nb*COLS + j].
//   C: out_* writes one row per cycle: lane j of word nb*M + m gets C[m, nb*COLS + j];
//      the accumulator adds to the stored value when out_accumulate (= accumulate).
//
// Schedule. A fold takes P = max(K, ROWS) issue slots: slot k < K reads A word k and W word k.
// The drain of a fold takes ROWS cycles out of the bottom and overlaps the next fold's
// streaming; P >= ROWS keeps one fold's drain ahead of the next fold's capture.
//
// Timing contract (counted in rising edges; edge 0 samples start=1 while busy=0):
//   done pulses, and the last row is written, at edge
//     cycles = (F - 1) * max(K, ROWS) + K + ROWS + COLS
//   = slots of all folds but the last + K slots of the last fold (reads at edges 1..K)
//     + 1 (column 0 takes the last product) + COLS - 1 (to column COLS-1)
//     + ROWS (the rows leave the drain chain and are written one per cycle).
//   This is simulator.cost.matmul_cycles for the npu timing, output-stationary dataflow.
// Preconditions: M, K, N >= 1; operands fit the address widths.
module npu_systolic_array_os #(
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

    localparam [31:0] ROWS32 = ROWS;
    localparam [31:0] COLS32 = COLS;

    // ---------------------------------------------------------------- controller
    reg [31:0] m_q, k_q, n_q, period;
    reg        acc_q;
    reg        issuing;
    reg [31:0] t;  // issue slot within the fold
    reg [31:0] m0, n0;  // the fold's first m and n
    reg [A_ADDR_BITS-1:0] a_base;
    reg [W_ADDR_BITS-1:0] w_base;
    reg [C_ADDR_BITS-1:0] c_base;  // nb * M: the fold's n-block in the accumulator

    wire m_last = (m0 + ROWS32 >= m_q);
    wire last_fold = m_last && (n0 + COLS32 >= n_q);
    wire end_slot = (t == period - 1);
    wire slot_valid = issuing && (t < k_q);
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
                period <= ({16'd0, k} > ROWS32) ? {16'd0, k} : ROWS32;
                acc_q <= accumulate;
                t <= 32'd0;
                m0 <= 32'd0;
                n0 <= 32'd0;
                a_base <= {A_ADDR_BITS{1'b0}};
                w_base <= {W_ADDR_BITS{1'b0}};
                c_base <= {C_ADDR_BITS{1'b0}};
            end
            if (issuing) begin
                if (!end_slot) begin
                    t <= t + 32'd1;
                end else if (last_fold) begin
                    issuing <= 1'b0;
                end else begin
                    t <= 32'd0;
                    if (m_last) begin
                        m0 <= 32'd0;
                        n0 <= n0 + COLS32;
                        a_base <= {A_ADDR_BITS{1'b0}};
                        w_base <= w_base + k_q[W_ADDR_BITS-1:0];
                        c_base <= c_base + m_q[C_ADDR_BITS-1:0];
                    end else begin
                        m0 <= m0 + ROWS32;
                        a_base <= a_base + k_q[A_ADDR_BITS-1:0];
                    end
                end
            end
            if (last_row_done) begin
                done <= 1'b1;
                busy <= 1'b0;
            end
        end
    end

    assign a_rd_en   = slot_valid;
    assign a_rd_addr = a_base + t[A_ADDR_BITS-1:0];
    assign w_rd_en   = slot_valid;
    assign w_rd_addr = w_base + t[W_ADDR_BITS-1:0];

    // ---------------------------------------------------------------- slot control
    // Registered with the scratchpad read: valid with the operands of the slot.
    reg                   s1_first, s1_last, s1_final;
    reg [C_ADDR_BITS-1:0] s1_caddr;
    reg [           31:0] s1_rows;  // rows of this fold inside M
    reg [       COLS-1:0] s1_nmask;
    integer               li;
    always @(posedge clk) begin
        if (rst) begin
            s1_first <= 1'b0;
            s1_last  <= 1'b0;
        end else begin
            s1_first <= slot_valid && (t == 32'd0);
            s1_last  <= slot_valid && (t == k_q - 1);
        end
        s1_final <= last_fold;
        s1_caddr <= c_base + m0[C_ADDR_BITS-1:0];
        s1_rows  <= m_last ? m_q - m0 : ROWS32;
        for (li = 0; li < COLS; li = li + 1) s1_nmask[li] <= (n0 + li < n_q);
    end

    // ---------------------------------------------------------------- PE grid
    wire [ 7:0] a_link[0:ROWS-1][0:COLS];
    wire [31:0] c_link[0:ROWS][0:COLS-1];
    wire [ 7:0] w_col[0:COLS-1];
    wire [COLS-1:0] first_col, last_col;
    genvar gi, gj;
    generate
        for (gj = 0; gj < COLS; gj = gj + 1) begin : g_wlane
            // Lane j of the weight bus and the fold markers are delayed j cycles.
            npu_delay #(
                .WIDTH(2 + 8),
                .DEPTH(gj)
            ) u_skew (
                .clk(clk),
                .rst(rst),
                .d  ({s1_first, s1_last, w_rd_data[gj*8+:8]}),
                .q  ({first_col[gj], last_col[gj], w_col[gj]})
            );
            assign c_link[0][gj] = 32'd0;
        end
        for (gi = 0; gi < ROWS; gi = gi + 1) begin : g_row
            assign a_link[gi][0] = a_rd_data[gi*8+:8];
            for (gj = 0; gj < COLS; gj = gj + 1) begin : g_col
                npu_pe_os #(
                    .A_BITS  (8),
                    .ACC_BITS(32)
                ) u_pe (
                    .clk  (clk),
                    .first(first_col[gj]),
                    .last (last_col[gj]),
                    .a_in (a_link[gi][gj]),
                    .w_in (w_col[gj]),
                    .c_in (c_link[gi][gj]),
                    .a_out(a_link[gi][gj+1]),
                    .c_out(c_link[gi+1][gj])
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
                .d  (c_link[ROWS][gj]),
                .q  (out_data[gj*32+:32])
            );
        end
    endgenerate

    // ---------------------------------------------------------------- row writer
    // The fold's row control arrives COLS cycles after its last slot's read, with row ROWS-1
    // of the deskewed drain; rows ROWS-1 .. 0 follow one per cycle.
    wire                   tok_valid, tok_final;
    wire [C_ADDR_BITS-1:0] tok_caddr;
    wire [           31:0] tok_rows;
    wire [       COLS-1:0] tok_nmask;
    npu_delay #(
        .WIDTH(2 + C_ADDR_BITS + 32 + COLS),
        .DEPTH(COLS)
    ) u_ctl (
        .clk(clk),
        .rst(rst),
        .d  ({s1_last, s1_final, s1_caddr, s1_rows, s1_nmask}),
        .q  ({tok_valid, tok_final, tok_caddr, tok_rows, tok_nmask})
    );

    reg                   dr_active, dr_final;
    reg [           31:0] dr_d;  // rows already written
    reg [C_ADDR_BITS-1:0] dr_caddr;
    reg [           31:0] dr_rows;
    reg [       COLS-1:0] dr_nmask;
    always @(posedge clk) begin
        if (rst) begin
            dr_active <= 1'b0;
        end else if (tok_valid) begin
            dr_active <= (ROWS > 1);
        end else if (dr_active && dr_d == ROWS32 - 1) begin
            dr_active <= 1'b0;
        end
        if (tok_valid) begin
            dr_d     <= 32'd1;
            dr_final <= tok_final;
            dr_caddr <= tok_caddr;
            dr_rows  <= tok_rows;
            dr_nmask <= tok_nmask;
        end else begin
            dr_d <= dr_d + 32'd1;
        end
    end

    wire [31:0] row = ROWS32 - 1 - (tok_valid ? 32'd0 : dr_d);
    wire [31:0] rows_in = tok_valid ? tok_rows : dr_rows;
    wire        writing = tok_valid || dr_active;
    assign out_valid      = writing && (row < rows_in);
    assign out_addr       = (tok_valid ? tok_caddr : dr_caddr) + row[C_ADDR_BITS-1:0];
    assign out_lane_en    = tok_valid ? tok_nmask : dr_nmask;
    assign out_accumulate = acc_q;
    assign last_row_done  = writing && (row == 32'd0) && (tok_valid ? tok_final : dr_final);

    /* verilator lint_off UNUSEDSIGNAL */
    wire [ROWS-1:0] unused_a_out;  // activations leaving the right edge
    /* verilator lint_on UNUSEDSIGNAL */
    generate
        for (gi = 0; gi < ROWS; gi = gi + 1) begin : g_unused
            assign unused_a_out[gi] = ^a_link[gi][COLS];
        end
    endgenerate
endmodule
