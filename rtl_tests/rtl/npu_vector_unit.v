`timescale 1ns/1ps
// npu_vector_unit: the integer datapath of the NPU's vector unit, LANES elements wide.
//
// One Vector instruction processes E = n0*n1*n2 elements in flat (i0, i1, i2) order, LANES
// per lane-vector: word v of the source scratchpads holds elements v*LANES .. v*LANES+LANES-1
// (src0 and src1 side by side, already gathered by the operand fetch). Functions:
//   COPY, ADD, SUB, MAX, MIN, ADD_IMM, RELU, CLIP, NEG, ABS   int32, wrapping
//   REQUANT  clamp(round_half_even(src0 * mult / 2**min(shift, 62)) + imm0, imm1, imm2) with
//            src1 = (mult << 8) | shift; the 32 x 24-bit product is built from two 32 x 12-bit
//            halves over the function's two cycles (vfunc_cycles(VFUNC_REQUANT) = 2)
//   REQUANT_BIAS  REQUANT of wrap32(src0 + src1) (the bias) with the scale words in src2 and
//            imm1 = (lo & 0xFFFF) | hi << 16 (two int16 bounds): the same multiplier and cycles
//   QADD     clamp(round_half_even(((src0 - za) * ma + (src1 - zb) * mb) / 2**shift) + zy, lo, hi)
//            with imm0 = (ma << 9) | za, imm1 = (mb << 9) | zb, imm2 = shift | zy << 5 | lo << 14
//            | hi << 23 (9-bit two's complement fields): one 64-bit product per cycle over the
//            function's two cycles (vfunc_cycles(VFUNC_QADD) = 2)
//   RSUM, RMAX, RMIN  fold each row of row_len (= n2) elements; rows may straddle lane-vectors
//            and a lane-vector may end several rows (a segmented scan with a carry)
// The result is saturated to dst_dtype (INT8, UINT8; INT32 keeps the wrapped value), as
// simulator.vector.vector_apply converts it. Element-wise functions write element e at index
// e; reductions write row r's result at index r.
//
// Pipeline: issue (one lane-vector every vfunc_cycles(func) cycles, address to the
// scratchpads) -> S1 (read data) -> EX (vfunc_cycles(func) cycles) -> R (rounding shift)
// -> Q (zero point, clamp, saturation) -> PIPELINE_DEPTH - 4 delay stages -> write.
//
// Timing contract (edge 0 samples start=1 while busy=0): done pulses, with the last write, at
//   cycles = ceil(E / LANES) * vfunc_cycles(func) + PIPELINE_DEPTH
// which is simulator.cost.vector_cycles. PIPELINE_DEPTH must be at least 4.
module npu_vector_unit #(
    parameter integer LANES = 4,
    parameter integer PIPELINE_DEPTH = 4,
    parameter integer ADDR_BITS = 12,
    parameter integer IDX_BITS = 14
) (
    input wire clk,
    input wire rst,

    input  wire        start,
    input  wire [ 7:0] opcode,     // must be OPCODE_VECTOR
    input  wire [ 7:0] func,       // a VFUNC_* code
    input  wire [31:0] elements,   // E = n0 * n1 * n2, at least 1
    input  wire [15:0] row_len,    // n2: the reduced length of RSUM/RMAX/RMIN, at least 1
    input  wire [31:0] imm0,
    input  wire [31:0] imm1,
    input  wire [31:0] imm2,
    input  wire [ 2:0] dst_dtype,
    output reg         busy,
    output reg         done,       // one-cycle pulse with the last write
    output reg         bad_op,     // pulses instead of starting: wrong opcode, func or dtype

    output wire                    rd_en,
    output wire [   ADDR_BITS-1:0] rd_addr,
    input  wire [    LANES*32-1:0] src0_data,
    input  wire [    LANES*32-1:0] src1_data,
    input  wire [    LANES*32-1:0] src2_data,  // REQUANT_BIAS's scale words (else unused)

    output wire [       LANES-1:0] wr_en,
    output wire [LANES*IDX_BITS-1:0] wr_idx,
    output wire [    LANES*32-1:0] wr_data
);
`include "npu_isa.vh"

    localparam [31:0] LANES32 = LANES;

    function automatic supported(input [7:0] f);
        begin
            case (f)
                VFUNC_COPY, VFUNC_ADD, VFUNC_SUB, VFUNC_MAX, VFUNC_MIN, VFUNC_ADD_IMM,
                VFUNC_RELU, VFUNC_CLIP, VFUNC_NEG, VFUNC_ABS, VFUNC_REQUANT, VFUNC_QADD, VFUNC_REQUANT_BIAS,
                VFUNC_RSUM, VFUNC_RMAX, VFUNC_RMIN: supported = 1'b1;
                default: supported = 1'b0;
            endcase
        end
    endfunction

    // ---------------------------------------------------------------- issue
    reg [7:0] func_q, vfc;
    reg [31:0] e_q, imm0_q, imm1_q, imm2_q;
    reg [15:0] n2_q;
    reg [2:0] dtype_q;
    reg issuing;
    reg [7:0] ph;
    reg [ADDR_BITS-1:0] v_addr;
    reg [31:0] e0, row0;
    reg [15:0] pos0;

    // Per-lane position in its row (pos) and row number (row), chained across the lanes.
    wire [15:0] pos[0:LANES];
    wire [31:0] row[0:LANES];
    assign pos[0] = pos0;
    assign row[0] = row0;
    genvar gl;
    generate
        for (gl = 0; gl < LANES; gl = gl + 1) begin : g_seg
            wire row_end = (pos[gl] == n2_q - 16'd1);
            assign pos[gl+1] = row_end ? 16'd0 : pos[gl] + 16'd1;
            assign row[gl+1] = row_end ? row[gl] + 32'd1 : row[gl];
        end
    endgenerate

    wire issue = issuing && (ph == 8'd0);
    wire dtype_ok = (dtype == DTYPE_INT8) || (dtype == DTYPE_UINT8) || (dtype == DTYPE_INT32);
    wire [2:0] dtype = dst_dtype;
    wire last_row_done;

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            done <= 1'b0;
            bad_op <= 1'b0;
            issuing <= 1'b0;
        end else begin
            done   <= 1'b0;
            bad_op <= 1'b0;
            if (start && !busy) begin
                if (opcode != OPCODE_VECTOR || !supported(func) || !dtype_ok) begin
                    bad_op <= 1'b1;
                end else begin
                    busy <= 1'b1;
                    issuing <= 1'b1;
                    func_q <= func;
                    vfc <= vfunc_cycles(func);
                    e_q <= elements;
                    n2_q <= row_len;
                    imm0_q <= imm0;
                    imm1_q <= imm1;
                    imm2_q <= imm2;
                    dtype_q <= dst_dtype;
                    ph <= 8'd0;
                    v_addr <= {ADDR_BITS{1'b0}};
                    e0 <= 32'd0;
                    pos0 <= 16'd0;
                    row0 <= 32'd0;
                end
            end
            if (issuing) begin
                ph <= (ph == vfc - 8'd1) ? 8'd0 : ph + 8'd1;
                if (issue) begin
                    v_addr <= v_addr + {{(ADDR_BITS - 1) {1'b0}}, 1'b1};
                    e0 <= e0 + LANES32;
                    pos0 <= pos[LANES];
                    row0 <= row[LANES];
                    if (e0 + LANES32 >= e_q) issuing <= 1'b0;
                end
            end
            if (last_row_done) begin
                done <= 1'b1;
                busy <= 1'b0;
            end
        end
    end
    assign rd_en   = issue;
    assign rd_addr = v_addr;

    // ---------------------------------------------------------------- S1: operands arrive
    reg s1_live, s1_lastvec;
    reg [7:0] s1_step;
    reg [LANES-1:0] s1_valid, s1_first, s1_last;
    reg [31:0] s1_idx[0:LANES-1];
    reg [31:0] s1_row[0:LANES-1];
    wire ex_final = s1_live && (s1_step == vfc - 8'd1);
    integer l;
    always @(posedge clk) begin
        if (rst) begin
            s1_live <= 1'b0;
        end else if (issue) begin
            s1_live <= 1'b1;
            s1_step <= 8'd0;
            s1_lastvec <= (e0 + LANES32 >= e_q);
            for (l = 0; l < LANES; l = l + 1) begin
                s1_valid[l] <= (e0 + l < e_q);
                s1_first[l] <= (pos[l] == 16'd0);
                s1_last[l]  <= (pos[l] == n2_q - 16'd1);
                s1_idx[l]   <= e0 + l;
                s1_row[l]   <= row[l];
            end
        end else if (s1_live) begin
            if (ex_final) s1_live <= 1'b0;
            else s1_step <= s1_step + 8'd1;
        end
    end

    // ---------------------------------------------------------------- EX
    wire is_bias = (func_q == VFUNC_REQUANT_BIAS);
    wire is_requant = (func_q == VFUNC_REQUANT) || is_bias;
    wire is_qadd = (func_q == VFUNC_QADD);
    wire rounds = is_requant || is_qadd;  // R and Q stages apply: shift, zero point, clamp
    // QADD's fields: 9-bit two's complement zero points and bounds, 23-bit multipliers
    wire signed [63:0] qa_z = {{55{imm0_q[8]}}, imm0_q[8:0]};
    wire signed [63:0] qb_z = {{55{imm1_q[8]}}, imm1_q[8:0]};
    wire signed [63:0] qa_m = {41'd0, imm0_q[31:9]};
    wire signed [63:0] qb_m = {41'd0, imm1_q[31:9]};
    wire is_reduce = (func_q == VFUNC_RSUM) || (func_q == VFUNC_RMAX) || (func_q == VFUNC_RMIN);
    reg  [31:0] carry;  // the partial result of a row continuing into the next lane-vector
    wire [31:0] run[0:LANES];
    assign run[0] = carry;

    reg x_valid, x_lastvec;
    reg [LANES-1:0] x_en;
    reg [IDX_BITS-1:0] x_idx[0:LANES-1];
    reg [63:0] x_val[0:LANES-1];
    reg [7:0] x_shift[0:LANES-1];
    reg signed [44:0] lo_part[0:LANES-1];
    reg signed [63:0] qa_part[0:LANES-1];  // QADD: (src0 - za) * ma, from its first cycle

    generate
        for (gl = 0; gl < LANES; gl = gl + 1) begin : g_ex
            wire signed [31:0] a = src0_data[gl*32+:32];
            wire signed [31:0] b = src1_data[gl*32+:32];
            wire signed [31:0] i0 = imm0_q;
            wire signed [31:0] i1 = imm1_q;
            // REQUANT_BIAS: the accumulator plus its bias, wrapping; the words in src2
            wire signed [31:0] acc = is_bias ? a + b : a;
            wire [31:0] word = is_bias ? src2_data[gl*32+:32] : src1_data[gl*32+:32];
            wire [23:0] mult = word[31:8];
            wire signed [44:0] lo_prod = acc * $signed({1'b0, mult[11:0]});
            wire signed [44:0] hi_prod = acc * $signed({1'b0, mult[23:12]});
            wire signed [63:0] product = {{19{lo_part[gl][44]}}, lo_part[gl]}
                                       + ({{19{hi_prod[44]}}, hi_prod} <<< 12);
            wire signed [63:0] qa_prod = ({{32{a[31]}}, a} - qa_z) * qa_m;
            wire signed [63:0] qsum = qa_part[gl] + ({{32{b[31]}}, b} - qb_z) * qb_m;
            reg signed [31:0] elem;
            always @(*) begin
                case (func_q)
                    VFUNC_ADD: elem = a + b;
                    VFUNC_SUB: elem = a - b;
                    VFUNC_MAX: elem = (a > b) ? a : b;
                    VFUNC_MIN: elem = (a < b) ? a : b;
                    VFUNC_ADD_IMM: elem = a + i0;
                    VFUNC_RELU: elem = (a < 0) ? 32'sd0 : a;
                    VFUNC_CLIP: elem = (((a < i0) ? i0 : a) > i1) ? i1 : ((a < i0) ? i0 : a);
                    VFUNC_NEG: elem = -a;
                    VFUNC_ABS: elem = (a < 0) ? -a : a;
                    default: elem = a;  // COPY
                endcase
            end
            // Segmented scan: a row's first element restarts the running value.
            wire signed [31:0] prev = s1_first[gl] ? a : run[gl];
            wire signed [31:0] folded = s1_first[gl] ? a
                : (func_q == VFUNC_RSUM) ? prev + a
                : (func_q == VFUNC_RMAX) ? ((a > prev) ? a : prev)
                : ((a < prev) ? a : prev);
            assign run[gl+1] = folded;

            always @(posedge clk) begin
                if (s1_live && s1_step == 8'd0) begin
                    lo_part[gl] <= lo_prod;
                    qa_part[gl] <= qa_prod;
                end
                if (ex_final) begin
                    x_shift[gl] <= is_qadd ? {3'd0, imm2_q[4:0]} : word[7:0];
                    if (is_reduce) begin
                        x_en[gl]  <= s1_valid[gl] && s1_last[gl];
                        x_idx[gl] <= s1_row[gl][IDX_BITS-1:0];
                        x_val[gl] <= {{32{folded[31]}}, folded};
                    end else begin
                        x_en[gl]  <= s1_valid[gl];
                        x_idx[gl] <= s1_idx[gl][IDX_BITS-1:0];
                        x_val[gl] <= is_requant ? product : is_qadd ? qsum
                                   : {{32{elem[31]}}, elem};
                    end
                end
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            x_valid <= 1'b0;
        end else begin
            x_valid <= ex_final;
        end
        x_lastvec <= ex_final && s1_lastvec;
        if (ex_final) carry <= run[LANES];
    end

    // ---------------------------------------------------------------- R: rounding shift
    reg r_valid, r_lastvec;
    reg [LANES-1:0] r_en;
    reg [IDX_BITS-1:0] r_idx[0:LANES-1];
    reg [63:0] r_val[0:LANES-1];
    generate
        for (gl = 0; gl < LANES; gl = gl + 1) begin : g_round
            wire [5:0] sh = (x_shift[gl] > 8'd62) ? 6'd62 : x_shift[gl][5:0];
            wire signed [63:0] q = $signed(x_val[gl]) >>> sh;
            wire [63:0] rem = x_val[gl] & ((64'd1 << sh) - 64'd1);
            wire [63:0] half = (sh == 6'd0) ? 64'd0 : (64'd1 << (sh - 6'd1));
            wire up = (sh != 6'd0) && ((rem > half) || ((rem == half) && q[0]));
            always @(posedge clk) begin
                r_en[gl]  <= x_en[gl];
                r_idx[gl] <= x_idx[gl];
                r_val[gl] <= rounds ? q + {63'd0, up} : x_val[gl];
            end
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) begin
            r_valid <= 1'b0;
        end else begin
            r_valid <= x_valid;
        end
        r_lastvec <= x_valid && x_lastvec;
    end

    // ---------------------------------------------------------------- Q: zero point, clamp, saturate
    reg q_valid, q_lastvec;
    reg [LANES-1:0] q_en;
    reg [LANES*IDX_BITS-1:0] q_idx;
    reg [LANES*32-1:0] q_data;
    generate
        for (gl = 0; gl < LANES; gl = gl + 1) begin : g_sat
            wire signed [63:0] zp = is_qadd ? {{55{imm2_q[13]}}, imm2_q[13:5]}
                                            : {{32{imm0_q[31]}}, imm0_q};
            wire signed [63:0] lo = is_qadd ? {{55{imm2_q[22]}}, imm2_q[22:14]}
                                  : is_bias ? {{48{imm1_q[15]}}, imm1_q[15:0]}
                                            : {{32{imm1_q[31]}}, imm1_q};
            wire signed [63:0] hi = is_qadd ? {{55{imm2_q[31]}}, imm2_q[31:23]}
                                  : is_bias ? {{48{imm1_q[31]}}, imm1_q[31:16]}
                                            : {{32{imm2_q[31]}}, imm2_q};
            wire signed [63:0] shifted = $signed(r_val[gl]) + zp;
            wire signed [63:0] above = (shifted < lo) ? lo : shifted;
            wire signed [63:0] clamped = (above > hi) ? hi : above;
            wire signed [31:0] v = rounds ? clamped[31:0] : r_val[gl][31:0];
            wire signed [31:0] sat = (dtype_q == DTYPE_INT8) ? ((v < -128) ? -32'sd128 : (v > 127) ? 32'sd127 : v)
                                   : (dtype_q == DTYPE_UINT8) ? ((v < 0) ? 32'sd0 : (v > 255) ? 32'sd255 : v)
                                   : v;
            always @(posedge clk) begin
                q_en[gl] <= r_valid && r_en[gl];
                q_idx[gl*IDX_BITS+:IDX_BITS] <= r_idx[gl];
                q_data[gl*32+:32] <= sat;
            end
            /* verilator lint_off UNUSEDSIGNAL */
            wire [31:0] unused_high = clamped[63:32] ^ r_val[gl][63:32];
            /* verilator lint_on UNUSEDSIGNAL */
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) begin
            q_valid <= 1'b0;
            q_lastvec <= 1'b0;
        end else begin
            q_valid <= r_valid;
            q_lastvec <= r_valid && r_lastvec;
        end
    end

    // ---------------------------------------------------------------- pad to PIPELINE_DEPTH
    wire out_valid, out_last;
    npu_delay #(
        .WIDTH(2 + LANES + LANES * IDX_BITS + LANES * 32),
        .DEPTH(PIPELINE_DEPTH - 4)
    ) u_pad (
        .clk(clk),
        .rst(rst),
        .d  ({q_valid, q_lastvec, q_en, q_idx, q_data}),
        .q  ({out_valid, out_last, wr_en, wr_idx, wr_data})
    );
    assign last_row_done = out_valid && out_last;

endmodule
