// npu_core_fetch.vh (included by npu_core.v): the systolic array and the vector unit with the
// operand-fetch adapters between their word ports and the byte-addressed scratchpads.
// The adapters answer a read address one cycle later (as the units' scratchpads do) with the
// strided boxes of the running instruction, gathered in the order each unit's ports define.

// ---------------------------------------------------------------- systolic array (MATRIX)
wire [ISA_WORD_BITS-1:0] mw = cur_word[1];
wire [31:0] mx_m = {16'd0, mw[MATMUL_M_LSB+:MATMUL_M_BITS]};
wire [31:0] mx_k = {16'd0, mw[MATMUL_K_LSB+:MATMUL_K_BITS]};
wire [31:0] mx_n = {16'd0, mw[MATMUL_N_LSB+:MATMUL_N_BITS]};
wire [63:0] mx_a = {36'd0, mw[MATMUL_A_ADDR_LSB+:MATMUL_A_ADDR_BITS]};
wire [63:0] mx_w = {36'd0, mw[MATMUL_W_ADDR_LSB+:MATMUL_W_ADDR_BITS]};
wire [63:0] mx_c = {36'd0, mw[MATMUL_C_ADDR_LSB+:MATMUL_C_ADDR_BITS]};
wire [63:0] mx_as = {40'd0, mw[MATMUL_A_STRIDE_LSB+:MATMUL_A_STRIDE_BITS]};
wire [63:0] mx_ws = {40'd0, mw[MATMUL_W_STRIDE_LSB+:MATMUL_W_STRIDE_BITS]};
wire [63:0] mx_cs = {40'd0, mw[MATMUL_C_STRIDE_LSB+:MATMUL_C_STRIDE_BITS]};
wire mx_wt = mw[MATMUL_W_TRANSPOSED_LSB];
wire mx_start = launch[1] && mw[7:0] == OPCODE_MATMUL;

wire a_rd_en, w_rd_en, out_valid, out_accumulate, mx_done, mx_bad;
wire [AB-1:0] a_rd_addr, w_rd_addr, out_addr;
reg [ROWS*8-1:0] a_rd_data;
reg [COLS*8-1:0] w_rd_data;
wire [COLS-1:0] out_lane_en;
wire [COLS*32-1:0] out_data;
wire mx_busy;

npu_systolic_array #(
    .ROWS(ROWS),
    .COLS(COLS),
    .A_ADDR_BITS(AB),
    .W_ADDR_BITS(AB),
    .C_ADDR_BITS(AB)
) u_array (
    .clk(clk),
    .rst(rst),
    .start(mx_start),
    .m(mx_m[15:0]),
    .k(mx_k[15:0]),
    .n(mx_n[15:0]),
    .accumulate(mw[MATMUL_ACCUMULATE_LSB]),
    .opcode(OPCODE_MATMUL),
    .busy(mx_busy),
    .done(mx_done),
    .bad_opcode(mx_bad),
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

// A word kb*M + m: lane i is A[m, kb*ROWS + i] (0 past K).
function automatic [ROWS*8-1:0] gather_a(input [AB-1:0] word);
    reg [31:0] kb, m, k;
    integer i;
    begin
        kb = {8'd0, word} / mx_m;
        m = {8'd0, word} % mx_m;
        for (i = 0; i < ROWS; i = i + 1) begin
            k = kb * ROWS + i;
            gather_a[i*8+:8] = (k < mx_k) ? rd8(SP_INPUT, mx_a + m * mx_as + k) : 8'd0;
        end
    end
endfunction

// A word f*ROWS + i, fold f = nb*ceil(K/ROWS) + kb: lane j is W[kb*ROWS + i, nb*COLS + j].
function automatic [COLS*8-1:0] gather_w(input [AB-1:0] word);
    reg [31:0] f, i, kbs, nb, k, n;
    integer j;
    begin
        f = {8'd0, word} / ROWS;
        i = {8'd0, word} % ROWS;
        kbs = (mx_k + ROWS - 1) / ROWS;
        nb = f / kbs;
        k = (f % kbs) * ROWS + i;
        for (j = 0; j < COLS; j = j + 1) begin
            n = nb * COLS + j;
            if (k >= mx_k || n >= mx_n) gather_w[j*8+:8] = 8'd0;
            else if (mx_wt) gather_w[j*8+:8] = rd8(SP_WEIGHT, mx_w + n * mx_ws + k);
            else gather_w[j*8+:8] = rd8(SP_WEIGHT, mx_w + k * mx_ws + n);
        end
    end
endfunction

// A result row nb*M + m: lane j is C[m, nb*COLS + j], int32 at c_addr + 4*(m*c_stride + n).
task automatic acc_write;
    reg [31:0] nb, m, n, old, sum;
    reg [63:0] a;
    integer j;
    begin
        nb = {8'd0, out_addr} / mx_m;
        m = {8'd0, out_addr} % mx_m;
        for (j = 0; j < COLS; j = j + 1)
            if (out_lane_en[j]) begin
                n = nb * COLS + j;
                a = mx_c + 4 * (m * mx_cs + n);
                old = rd_elem(SP_ACC, a, 3'd4);
                sum = out_accumulate ? old + out_data[j*32+:32] : out_data[j*32+:32];
                wr_elem(SP_ACC, a, 3'd4, sum);
            end
    end
endtask

// ---------------------------------------------------------------- vector unit (VECTOR)
localparam integer IB = 24;  // element index bits of the vector unit's write ports
wire [ISA_WORD_BITS-1:0] vw = cur_word[2];
wire [7:0] vx_func = vw[VECTOR_FUNC_LSB+:VECTOR_FUNC_BITS];
wire [31:0] vx_n0 = {16'd0, vw[VECTOR_N0_LSB+:VECTOR_N0_BITS]};
wire [31:0] vx_n1 = {16'd0, vw[VECTOR_N1_LSB+:VECTOR_N1_BITS]};
wire [31:0] vx_n2 = {16'd0, vw[VECTOR_N2_LSB+:VECTOR_N2_BITS]};
wire [31:0] vx_elements = vx_n0 * vx_n1 * vx_n2;
wire vx_reduce = vx_func == VFUNC_RSUM || vx_func == VFUNC_RMAX || vx_func == VFUNC_RMIN;
wire [2:0] vx_dst_dtype = vw[VECTOR_DST_DTYPE_LSB+:VECTOR_DST_DTYPE_BITS];
wire vx_start = launch[2] && vw[7:0] == OPCODE_VECTOR;

wire vx_rd_en, vx_done, vx_busy, vx_bad;
wire [AB-1:0] vx_rd_addr;
reg [LANES*32-1:0] vx_src0, vx_src1, vx_src2;
wire [LANES-1:0] vx_wr_en;
wire [LANES*IB-1:0] vx_wr_idx;
wire [LANES*32-1:0] vx_wr_data;

npu_vector_unit #(
    .LANES(LANES),
    .PIPELINE_DEPTH(PIPELINE_DEPTH),
    .ADDR_BITS(AB),
    .IDX_BITS(IB)
) u_vector (
    .clk(clk),
    .rst(rst),
    .start(vx_start),
    .opcode(OPCODE_VECTOR),
    .func(vx_func),
    .elements(vx_elements),
    .row_len(vx_n2[15:0]),
    .imm0(vw[VECTOR_IMM0_LSB+:32]),
    .imm1(vw[VECTOR_IMM1_LSB+:32]),
    .imm2(vw[VECTOR_IMM2_LSB+:32]),
    .dst_dtype(vx_dst_dtype),
    .busy(vx_busy),
    .done(vx_done),
    .bad_op(vx_bad),
    .rd_en(vx_rd_en),
    .rd_addr(vx_rd_addr),
    .src0_data(vx_src0),
    .src1_data(vx_src1),
    .src2_data(vx_src2),
    .wr_en(vx_wr_en),
    .wr_idx(vx_wr_idx),
    .wr_data(vx_wr_data)
);

function automatic [2:0] dtype_bytes(input [2:0] dt);
    dtype_bytes = (dt == DTYPE_INT8 || dt == DTYPE_UINT8) ? 3'd1 : (dt == DTYPE_INT32) ? 3'd4 : 3'd2;
endfunction

// Operand `which` (0: src0, 1: src1, 2: dst) element (i0, i1, i2): its byte address.
function automatic [63:0] v_addr(input [1:0] which, input [31:0] i0, input [31:0] i1,
                                 input [31:0] i2);
    reg [63:0] base, s0, s1, s2;
    reg [2:0] dt;
    integer o;
    begin
        o = (which == 2'd0) ? VECTOR_SRC0_SP_LSB : (which == 2'd1) ? VECTOR_SRC1_SP_LSB
            : VECTOR_DST_SP_LSB;
        // sp(2) dtype(3) addr(28) s0(26) s1(26) s2(26), in this order for every operand
        dt = vw[o+2+:3];
        base = {36'd0, vw[o+5+:28]};
        s0 = {38'd0, vw[o+33+:26]};
        s1 = {38'd0, vw[o+59+:26]};
        s2 = {38'd0, vw[o+85+:26]};
        v_addr = base + dtype_bytes(dt) * (i0 * s0 + i1 * s1 + i2 * s2);
    end
endfunction

// Lane-vector `word` of operand `which`, each element widened to int32 by its dtype, its
// addresses moved by `offset` bytes (REQUANT_BIAS's scale words: src1's moved by imm2).
function automatic [LANES*32-1:0] gather_v(input [1:0] which, input [AB-1:0] word,
                                           input [63:0] offset);
    reg [31:0] e, r, raw;
    reg [2:0] dt;
    reg [1:0] sp;
    integer l, o;
    begin
        o = (which == 2'd0) ? VECTOR_SRC0_SP_LSB : VECTOR_SRC1_SP_LSB;
        sp = vw[o+:2];
        dt = vw[o+2+:3];
        gather_v = {LANES * 32{1'b0}};
        for (l = 0; l < LANES; l = l + 1) begin
            e = {8'd0, word} * LANES + l;
            if (e < vx_elements) begin
                r = e / vx_n2;
                raw = rd_elem(sp, v_addr(which, r / vx_n1, r % vx_n1, e % vx_n2) + offset,
                              dtype_bytes(dt));
                if (dt == DTYPE_INT8) raw = {{24{raw[7]}}, raw[7:0]};
                gather_v[l*32+:32] = raw;
            end
        end
    end
endfunction

// Write lane l's result: element index (element-wise) or row index (reductions).
task automatic vector_write(input integer l);
    reg [31:0] idx;
    reg [63:0] a;
    begin
        idx = {8'd0, vx_wr_idx[l*IB+:IB]};
        if (vx_reduce) a = v_addr(2'd2, idx / vx_n1, idx % vx_n1, 32'd0);
        else a = v_addr(2'd2, (idx / vx_n2) / vx_n1, (idx / vx_n2) % vx_n1, idx % vx_n2);
        wr_elem(vw[VECTOR_DST_SP_LSB+:2], a, dtype_bytes(vx_dst_dtype), vx_wr_data[l*32+:32]);
    end
endtask

integer fl;
task automatic fetch_step;
    begin
        if (a_rd_en) a_rd_data <= gather_a(a_rd_addr);
        if (w_rd_en) w_rd_data <= gather_w(w_rd_addr);
        if (vx_rd_en) begin
            vx_src0 <= gather_v(2'd0, vx_rd_addr, 64'd0);
            vx_src1 <= gather_v(2'd1, vx_rd_addr, 64'd0);
            if (vx_func == VFUNC_REQUANT_BIAS)
                vx_src2 <= gather_v(2'd1, vx_rd_addr, {{32{vw[VECTOR_IMM2_LSB+31]}},
                                                       vw[VECTOR_IMM2_LSB+:32]});
        end
        if (out_valid) acc_write();
        for (fl = 0; fl < LANES; fl = fl + 1) if (vx_wr_en[fl]) vector_write(fl);
    end
endtask
