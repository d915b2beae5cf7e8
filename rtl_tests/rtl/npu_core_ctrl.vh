// npu_core_ctrl.vh (included by npu_core.v): fetch, decode, dispatch, unit queues, dependency
// tokens, completions, per-instruction records, the end of the run. Runs on the falling edge
// (between the units' rising edges), so a unit's done is seen and the next start decided
// within one cycle.

reg [31:0] pc, n_instr, first_start, last_end;
reg ended;
reg [31:0] queue[0:4*QDEPTH-1];  // per unit: a ring of instruction indices
reg [31:0] qhead[0:3], qcnt[0:3];
reg busy[0:3];
reg [31:0] tok[0:15];  // channel src*4 + dst
reg [31:0] rec_start[0:IMEM_WORDS-1], rec_end[0:IMEM_WORDS-1], rec_hash[0:IMEM_WORDS-1];
reg [31:0] mx_due;  // MUTATION 1: the cycle the MATRIX instruction's done is seen
reg mx_early;  // MUTATION 1: its tokens are out already
reg hash_due[0:3];
reg [ISA_WORD_BITS-1:0] dma_word[0:3];
reg [31:0] dma_index[0:3];  // a DMA completed last cycle: its last bytes moved since, hash them now

function automatic [2:0] unit_of(input [ISA_WORD_BITS-1:0] w);
    case (w[7:0])
        OPCODE_LOAD, OPCODE_GATHER: unit_of = {1'b0, UNIT_LOAD};
        OPCODE_MATMUL: unit_of = {1'b0, UNIT_MATRIX};
        OPCODE_VECTOR: unit_of = {1'b0, UNIT_VECTOR};
        OPCODE_STORE, OPCODE_SCATTER: unit_of = {1'b0, UNIT_STORE};
        OPCODE_SYNC: unit_of = {1'b0, w[SYNC_QUEUE_LSB+:2]};
        default: unit_of = 3'd4;  // END or not an instruction
    endcase
endfunction

function automatic is_float(input [2:0] dt);
    is_float = dt != DTYPE_INT8 && dt != DTYPE_UINT8 && dt != DTYPE_INT32;
endfunction

// 1 when the RTL implements the instruction (see the scope in npu_core.v).
function automatic supported(input [ISA_WORD_BITS-1:0] w);
    reg [7:0] f;
    reg two;
    begin
        f = w[VECTOR_FUNC_LSB+:8];
        two = f == VFUNC_ADD || f == VFUNC_SUB || f == VFUNC_MAX || f == VFUNC_MIN
            || f == VFUNC_REQUANT || f == VFUNC_QADD || f == VFUNC_REQUANT_BIAS;
        case (w[7:0])
            OPCODE_LOAD, OPCODE_STORE, OPCODE_SYNC: supported = 1'b1;
            OPCODE_MATMUL: supported = w[MATMUL_DTYPE_LSB+:3] == DTYPE_INT8;
            OPCODE_VECTOR:
            supported = (two || f == VFUNC_COPY || f == VFUNC_ADD_IMM || f == VFUNC_RELU
                || f == VFUNC_CLIP || f == VFUNC_NEG || f == VFUNC_ABS || f == VFUNC_RSUM
                || f == VFUNC_RMAX || f == VFUNC_RMIN)
                && !is_float(w[VECTOR_SRC0_DTYPE_LSB+:3]) && !is_float(w[VECTOR_DST_DTYPE_LSB+:3])
                && !(two && is_float(w[VECTOR_SRC1_DTYPE_LSB+:3]));
            default: supported = 1'b0;
        endcase
    end
endfunction

// The weight-stationary MatMul formula, used only by MUTATION 1 (to release tokens early).
function automatic [31:0] matmul_cycles(input [ISA_WORD_BITS-1:0] w);
    reg [31:0] m, k, n, f;
    begin
        m = w[MATMUL_M_LSB+:16];
        k = w[MATMUL_K_LSB+:16];
        n = w[MATMUL_N_LSB+:16];
        f = ((k + ROWS - 1) / ROWS) * ((n + COLS - 1) / COLS);
        matmul_cycles = (f - 1) * ((m > ROWS) ? m : ROWS) + m + ROWS + COLS + 1;
    end
endfunction

// ---------------------------------------------------------------- per-instruction hashes
// The sum over the elements of the box an instruction writes of mix(byte address, value):
// rtl_tests/core/reference.py computes the same from the simulator's footprint regions.
function automatic [31:0] mix(input [63:0] a, input [31:0] v);
    mix = ((a[31:0] * 32'h9E3779B1) ^ (v + 32'h7F4A7C15)) * 32'h85EBCA77;
endfunction

function automatic [31:0] box_hash(input [1:0] mem, input [63:0] addr, input [31:0] n0,
                                   input [31:0] n1, input [31:0] n2, input [63:0] s0,
                                   input [63:0] s1, input [63:0] s2, input integer esize);
    reg [63:0] a;
    reg [31:0] v, i0, i1, i2;
    begin
        box_hash = 32'd0;
        for (i0 = 0; i0 < n0; i0 = i0 + 1)
            for (i1 = 0; i1 < n1; i1 = i1 + 1)
                for (i2 = 0; i2 < n2; i2 = i2 + 1) begin
                    a = addr + esize * (i0 * s0 + i1 * s1 + i2 * s2);
                    v = rd_elem(mem, a, (esize > 4) ? 3'd4 : esize[2:0]);
                    if (esize > 4) v = v ^ rd_elem(mem, a + 4, 3'd4);
                    box_hash = box_hash + mix(a, v);
                end
    end
endfunction

function automatic [63:0] sext32(input [31:0] v);
    sext32 = {{32{v[31]}}, v};
endfunction

function automatic [31:0] region_hash(input [ISA_WORD_BITS-1:0] w);
    reg [31:0] lo0, lo1, lo2, w0, w1, w2, hi;
    reg [63:0] da;
    integer es, o, d;
    begin
        region_hash = 32'd0;
        es = 1 << w[LOAD_ESIZE_LOG2_LSB+:2];
        case (w[7:0])
            OPCODE_LOAD:
            region_hash = box_hash(w[LOAD_SP_LSB+:2], {36'd0, w[LOAD_SP_ADDR_LSB+:28]},
                                   w[LOAD_N0_LSB+:16], w[LOAD_N1_LSB+:16], w[LOAD_N2_LSB+:16],
                                   {36'd0, w[LOAD_SS0_LSB+:28]}, {36'd0, w[LOAD_SS1_LSB+:28]},
                                   {36'd0, w[LOAD_SS2_LSB+:28]}, es);
            OPCODE_STORE: begin
                // the window: lo_d <= i_d < min(hi_d, n_d)
                lo0 = w[LOAD_LO0_LSB+:16];
                lo1 = w[LOAD_LO1_LSB+:16];
                lo2 = w[LOAD_LO2_LSB+:16];
                for (d = 0; d < 3; d = d + 1) begin
                    hi = w[LOAD_HI0_LSB+32*d+:16];
                    if (hi > w[LOAD_N0_LSB+16*d+:16]) hi = w[LOAD_N0_LSB+16*d+:16];
                    if (d == 0) w0 = (hi > lo0) ? hi - lo0 : 0;
                    if (d == 1) w1 = (hi > lo1) ? hi - lo1 : 0;
                    if (d == 2) w2 = (hi > lo2) ? hi - lo2 : 0;
                end
                da = {{24{w[LOAD_DRAM_ADDR_LSB+39]}}, w[LOAD_DRAM_ADDR_LSB+:40]}
                    + es * (lo0 * sext32(w[LOAD_DS0_LSB+:32]) + lo1 * sext32(w[LOAD_DS1_LSB+:32])
                    + lo2 * sext32(w[LOAD_DS2_LSB+:32]));
                region_hash = box_hash(2'd3, da, w0, w1, w2, sext32(w[LOAD_DS0_LSB+:32]),
                                       sext32(w[LOAD_DS1_LSB+:32]), sext32(w[LOAD_DS2_LSB+:32]),
                                       es);
            end
            OPCODE_MATMUL:
            region_hash = box_hash(SP_ACC, {36'd0, w[MATMUL_C_ADDR_LSB+:28]}, 1,
                                   w[MATMUL_M_LSB+:16], w[MATMUL_N_LSB+:16], 0,
                                   {40'd0, w[MATMUL_C_STRIDE_LSB+:24]}, 1, 4);
            OPCODE_VECTOR: begin
                o = VECTOR_DST_SP_LSB;
                region_hash = box_hash(w[o+:2], {36'd0, w[o+5+:28]}, w[VECTOR_N0_LSB+:16],
                                       w[VECTOR_N1_LSB+:16],
                                       (w[VECTOR_FUNC_LSB+:8] == VFUNC_RSUM
                                        || w[VECTOR_FUNC_LSB+:8] == VFUNC_RMAX
                                        || w[VECTOR_FUNC_LSB+:8] == VFUNC_RMIN)
                                           ? 1 : w[VECTOR_N2_LSB+:16],
                                       {38'd0, w[o+33+:26]}, {38'd0, w[o+59+:26]},
                                       {38'd0, w[o+85+:26]}, dtype_bytes(w[o+2+:3]));
            end
            default: region_hash = 32'd0;
        endcase
    end
endfunction

// ---------------------------------------------------------------- the falling edge
task automatic push_tokens(input integer u);
    integer s;
    begin
        for (s = 0; s < 4; s = s + 1)
            if (cur_word[u][12+s]) tok[u*4+s] = tok[u*4+s] + 1;
    end
endtask

task automatic complete(input integer u);
    reg [31:0] i;
    begin
        i = cur_index[u];
        rec_end[i] = cyc + 1;
        last_end = cyc + 1;
        if ((u == UNIT_LOAD || u == UNIT_STORE) && cur_word[u][7:0] != OPCODE_SYNC) begin
            hash_due[u] = 1'b1;  // the engine raised done an edge before its last bytes
            dma_word[u] = cur_word[u];
            dma_index[u] = i;
        end else rec_hash[i] = region_hash(cur_word[u]);
        if (!(MUTATION == 1 && u == UNIT_MATRIX && mx_early)) push_tokens(u);
        busy[u] = 1'b0;
    end
endtask

task automatic dispatch;
    reg stop;
    reg [2:0] u;
    integer it;
    begin
        stop = 1'b0;
        for (it = 0; it < IMEM_WORDS && !stop; it = it + 1) begin
            if (ended || error != 0 || pc >= IMEM_WORDS) stop = 1'b1;
            else if (imem[pc][7:0] == OPCODE_END) begin
                ended = 1'b1;
                n_instr = pc;
                stop = 1'b1;
            end else begin
                u = unit_of(imem[pc]);
                if (u == 3'd4) begin
                    error = ERR_OPCODE;
                    err_index = pc;
                    stop = 1'b1;
                end else if (qcnt[u] >= QDEPTH) stop = 1'b1;
                else begin
                    queue[u*QDEPTH+(qhead[u]+qcnt[u])%QDEPTH] = pc;
                    qcnt[u] = qcnt[u] + 1;
                    pc = pc + 1;
                end
            end
        end
    end
endtask

// Start unit u's queue head if the unit is idle, its tokens are there and its channels have room.
task automatic try_start(input integer u, output reg started);
    reg [31:0] i;
    reg [ISA_WORD_BITS-1:0] w;
    reg ok;
    integer x;
    begin
        started = 1'b0;
        if (!busy[u] && qcnt[u] != 0 && error == 0) begin
            i = queue[u*QDEPTH+qhead[u]];
            w = imem[i];
            ok = 1'b1;
            for (x = 0; x < 4; x = x + 1) begin
                if (w[8+x] && tok[x*4+u] == 0) ok = 1'b0;
                if (w[12+x] && tok[u*4+x] >= TDEPTH) ok = 1'b0;
            end
            if (ok && !supported(w)) begin
                error = ERR_UNSUPPORTED;
                err_index = i;
            end else if (ok) begin
                qhead[u] = (qhead[u] + 1) % QDEPTH;
                qcnt[u] = qcnt[u] - 1;
                for (x = 0; x < 4; x = x + 1) if (w[8+x]) tok[x*4+u] = tok[x*4+u] - 1;
                busy[u] = 1'b1;
                cur_word[u] = w;
                cur_index[u] = i;
                launch[u] = 1'b1;
                rec_start[i] = cyc + 1;
                if (i == 0) first_start = cyc + 1;
                if (u == UNIT_MATRIX && w[7:0] == OPCODE_MATMUL) begin
                    mx_due = cyc + 1 + matmul_cycles(w);
                    mx_early = 1'b0;
                end
                started = 1'b1;
            end
        end
    end
endtask

task automatic write_results;
    integer fd, r;
    begin
        fd = $fopen("records.txt", "w");
        for (r = 0; r < n_instr; r = r + 1)
            $fwrite(fd, "%0d %0d %0d %0d\n", r, rec_start[r], rec_end[r], rec_hash[r]);
        $fclose(fd);
        $writememh("dram_out.hex", dram, 0, dump_bytes - 1);
    end
endtask

integer cu, pass;
reg any_start, st, idle, stop;
always @(negedge clk) begin
    if (rst) begin
        halted = 1'b0;
        error = 8'd0;
        err_index = 32'd0;
        cycles = 32'd0;
        pc = 32'd0;
        n_instr = 32'd0;
        ended = 1'b0;
        first_start = 32'd0;
        last_end = 32'd0;
        launch = 4'd0;
        mx_early = 1'b0;
        for (cu = 0; cu < 4; cu = cu + 1) begin
            qhead[cu] = 0;
            qcnt[cu] = 0;
            busy[cu] = 1'b0;
            hash_due[cu] = 1'b0;
        end
        for (cu = 0; cu < 16; cu = cu + 1) tok[cu] = 0;
    end else if (run && !halted) begin
        launch = 4'd0;
        for (cu = 0; cu < 4; cu = cu + 1)
            if (hash_due[cu]) begin
                rec_hash[dma_index[cu]] = region_hash(dma_word[cu]);
                hash_due[cu] = 1'b0;
            end
        for (cu = 0; cu < 4; cu = cu + 1) if (busy[cu] && unit_done[cu]) complete(cu);
        if (MUTATION == 1 && busy[UNIT_MATRIX] && !mx_early && cyc + 1 == mx_due) begin
            push_tokens(UNIT_MATRIX);  // one cycle before done is seen
            mx_early = 1'b1;
        end
        any_start = 1'b0;
        for (pass = 0; pass < 3; pass = pass + 1) begin
            dispatch();
            for (cu = 0; cu < 4; cu = cu + 1) begin
                try_start(cu, st);
                any_start = any_start | st;
            end
        end
        if (mem_fault && error == 0) begin
            error = ERR_MEMORY;
            err_index = pc;
        end
        idle = !busy[0] && !busy[1] && !busy[2] && !busy[3];
        stop = error != 0 || (idle && ended && qcnt[0] == 0 && qcnt[1] == 0 && qcnt[2] == 0
            && qcnt[3] == 0 && !dma_on[0] && !dma_on[1] && !hash_due[0] && !hash_due[3]);
        if (!stop && idle && !any_start && !dma_on[0] && !dma_on[1] && !hash_due[0]
            && !hash_due[3]) begin
            error = ERR_DEADLOCK;
            err_index = pc;
            stop = 1'b1;
        end
        if (stop) begin  // the files first: halted is what the bench waits for
            cycles = last_end - first_start;
            $display("npu_core: halted at edge %0d: %0d instructions, error %0d at %0d, %0d cycles",
                     cyc, n_instr, error, err_index, cycles);
            write_results();
            halted = 1'b1;
        end
    end
end
