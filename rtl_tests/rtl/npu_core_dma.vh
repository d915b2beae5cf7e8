// npu_core_dma.vh (included by npu_core.v): the two DMA engines, d = 0 (LOAD unit: DRAM ->
// scratchpad) and d = 1 (STORE unit: scratchpad -> DRAM).
//
// An engine samples its descriptor at edge 0, spends LATENCY edges waiting for DRAM, then walks
// the box (i0, i1, i2) in row-major order. Each data edge adds its share of the bandwidth to a
// byte budget (BW_X256 / 256 bytes per edge, halved while both engines are in their data
// phase); an element inside the window costs its bytes, and the last element of a contiguous
// DRAM run also the rest of the run's last burst (BURST bytes), as simulator.cost.dma_runs
// counts them; an element moves at the edge the budget covers it. Elements outside the window
// cost nothing: a LOAD writes the low bytes of `pad` there, a STORE skips them.
// done rises one edge before the edge that will move the last element (the engine knows the
// transfer's burst bytes from its descriptor and the next edge's share of the bandwidth), so
// the control, which sees done half a cycle later, frees the unit and releases the tokens at
// the edge where the data is all there: LATENCY + ceil(burst bytes / bandwidth) cycles after
// start when the engine has DRAM to itself (simulator.cost.dma_cycles); a transfer with no
// DRAM bytes (all padding) takes one cycle more.
localparam integer DMA_CAP = 1 << 24;  // elements one engine may move per edge (no limit)

reg dma_on[0:1], dma_done_r[0:1];
wire [1:0] dma_done = {dma_done_r[1], dma_done_r[0]};
reg [31:0] d_lat[0:1], d_c0[0:1], d_c1[0:1], d_c2[0:1], d_run[0:1], d_pos[0:1];
reg [63:0] d_credit[0:1], d_total[0:1], d_spent[0:1];
reg d_early[0:1];  // done was raised the edge before
reg [ISA_WORD_BITS-1:0] d_word[0:1];

function automatic [31:0] dfield(input integer d, input integer lsb, input integer bits);
    reg [63:0] v;
    begin
        v = d_word[d] >> lsb;
        dfield = v[31:0] & ((bits >= 32) ? 32'hFFFFFFFF : ((32'd1 << bits) - 32'd1));
    end
endfunction

// The window's extent in dimension dim (hi clipped to n, at least 0).
function automatic [31:0] dwin(input integer d, input integer dim);
    reg [31:0] n, lo, hi;
    begin
        n  = dfield(d, LOAD_N0_LSB + 16 * dim, 16);
        lo = dfield(d, LOAD_LO0_LSB + 32 * dim, 16);
        hi = dfield(d, LOAD_HI0_LSB + 32 * dim, 16);
        if (hi > n) hi = n;
        dwin = (hi > lo) ? hi - lo : 32'd0;
    end
endfunction

function automatic [63:0] burst_round(input [63:0] bytes);
    burst_round = (bytes + BURST - 1) / BURST * BURST;
endfunction

task automatic dma_reset;
    integer d;
    begin
        for (d = 0; d < 2; d = d + 1) begin
            dma_on[d] = 1'b0;
            dma_done_r[d] = 1'b0;
        end
    end
endtask

task automatic dma_begin(input integer d, input [ISA_WORD_BITS-1:0] word);
    reg [31:0] w0, w1, w2, rl;
    integer es;
    begin
        es = 1 << word[LOAD_ESIZE_LOG2_LSB+:2];
        d_word[d] = word;
        dma_on[d] = 1'b1;
        d_lat[d] = LATENCY;
        d_credit[d] = 64'd0;
        d_c0[d] = 32'd0;
        d_c1[d] = 32'd0;
        d_c2[d] = 32'd0;
        d_pos[d] = 32'd0;
        w0 = dwin(d, 0);
        w1 = dwin(d, 1);
        w2 = dwin(d, 2);
        rl = w2;  // elements per contiguous DRAM run when ds2 == 1
        if ($signed(dfield(d, LOAD_DS1_LSB, 32)) == $signed(w2)) begin
            rl = rl * w1;
            if ($signed(dfield(d, LOAD_DS0_LSB, 32)) == $signed(w1 * w2)) rl = rl * w0;
        end
        d_run[d] = rl;
        d_spent[d] = 64'd0;
        d_early[d] = 1'b0;
        // the transfer's DRAM bytes, each contiguous run rounded up to whole bursts
        if (w0 * w1 * w2 == 0) d_total[d] = 64'd0;
        else if (dfield(d, LOAD_DS2_LSB, 32) == 32'd0) d_total[d] = w0 * w1 * burst_round(es);
        else if (dfield(d, LOAD_DS2_LSB, 32) != 32'd1)
            d_total[d] = w0 * w1 * w2 * burst_round(es);
        else d_total[d] = (w0 * w1 * w2 / rl) * burst_round(rl * es);
    end
endtask

// Moves elements of engine d while its budget covers them; 1 when the box is done.
function automatic in_window(input integer d);
    begin
        in_window = d_c0[d] >= dfield(d, LOAD_LO0_LSB, 16) && d_c0[d] < dfield(d, LOAD_HI0_LSB, 16)
            && d_c1[d] >= dfield(d, LOAD_LO1_LSB, 16) && d_c1[d] < dfield(d, LOAD_HI1_LSB, 16)
            && d_c2[d] >= dfield(d, LOAD_LO2_LSB, 16) && d_c2[d] < dfield(d, LOAD_HI2_LSB, 16);
    end
endfunction

function automatic [63:0] elem_cost(input integer d, input integer esize);
    reg [31:0] ds2;
    begin
        ds2 = dfield(d, LOAD_DS2_LSB, 32);
        if (!in_window(d)) elem_cost = 64'd0;
        else if (ds2 == 32'd0)  // a broadcast reads each (i0, i1) once
            elem_cost = (d_c2[d] == dfield(d, LOAD_LO2_LSB, 16)) ? burst_round(esize) : 64'd0;
        else if (ds2 != 32'd1) elem_cost = burst_round(esize);
        else if (d_pos[d] + 1 == d_run[d])
            elem_cost = esize + burst_round(d_run[d] * esize) - d_run[d] * esize;
        else elem_cost = esize;
    end
endfunction

task automatic dma_move(input integer d, input integer esize, input win);
    reg [63:0] sa, da, ds1;
    reg [1:0] sp;
    reg [31:0] pad;
    integer b;
    begin
        sp = dfield(d, LOAD_SP_LSB, 2);
        pad = dfield(d, LOAD_PAD_LSB, 32);
        ds1 = {{32{d_word[d][LOAD_DS1_LSB+31]}}, dfield(d, LOAD_DS1_LSB, 32)};
        if (MUTATION == 2 && d == 0) ds1 = ds1 + 1;
        sa = dfield(d, LOAD_SP_ADDR_LSB, 28) + esize * (d_c0[d] * dfield(d, LOAD_SS0_LSB, 28)
            + d_c1[d] * dfield(d, LOAD_SS1_LSB, 28) + d_c2[d] * dfield(d, LOAD_SS2_LSB, 28));
        da = {{24{d_word[d][LOAD_DRAM_ADDR_LSB+39]}}, d_word[d][LOAD_DRAM_ADDR_LSB+:40]}
            + esize * (d_c0[d] * {{32{d_word[d][LOAD_DS0_LSB+31]}}, dfield(d, LOAD_DS0_LSB, 32)}
            + d_c1[d] * ds1
            + d_c2[d] * {{32{d_word[d][LOAD_DS2_LSB+31]}}, dfield(d, LOAD_DS2_LSB, 32)});
        for (b = 0; b < esize; b = b + 1)
            if (d == 0) wr8(sp, sa + b, win ? rd8(2'd3, da + b) : (b < 4 ? pad[b*8+:8] : 8'd0));
            else if (win) wr8(2'd3, da + b, rd8(sp, sa + b));
    end
endtask

task automatic dma_advance(input integer d);
    begin
        if (d_c2[d] + 1 < dfield(d, LOAD_N2_LSB, 16)) d_c2[d] = d_c2[d] + 1;
        else begin
            d_c2[d] = 0;
            if (d_c1[d] + 1 < dfield(d, LOAD_N1_LSB, 16)) d_c1[d] = d_c1[d] + 1;
            else begin
                d_c1[d] = 0;
                d_c0[d] = d_c0[d] + 1;
            end
        end
    end
endtask

task automatic dma_finish(input integer d);
    begin
        dma_on[d] = 1'b0;
        if (!d_early[d]) dma_done_r[d] = 1'b1;
    end
endtask

task automatic dma_data(input integer d, input [63:0] grant);
    reg go, win;
    reg [63:0] cost;
    integer it, esize;
    begin
        esize = 1 << dfield(d, LOAD_ESIZE_LOG2_LSB, 2);
        d_credit[d] = d_credit[d] + grant;
        go = 1'b1;
        for (it = 0; it < DMA_CAP && go; it = it + 1) begin
            if (d_c0[d] >= dfield(d, LOAD_N0_LSB, 16) || dfield(d, LOAD_N1_LSB, 16) == 0
                || dfield(d, LOAD_N2_LSB, 16) == 0) begin
                go = 1'b0;
                dma_finish(d);
            end else begin
                cost = elem_cost(d, esize) * 256;
                win  = in_window(d);
                if (d_credit[d] < cost) go = 1'b0;
                else begin
                    d_credit[d] = d_credit[d] - cost;
                    d_spent[d] = d_spent[d] + cost / 256;
                    dma_move(d, esize, win);
                    if (win) d_pos[d] = (d_pos[d] + 1 == d_run[d]) ? 32'd0 : d_pos[d] + 1;
                    dma_advance(d);
                end
            end
        end
        // The box may end exactly at this edge's last move.
        if (dma_on[d] && d_c0[d] >= dfield(d, LOAD_N0_LSB, 16)) dma_finish(d);
    end
endtask

task automatic dma_step;
    integer d, active;
    reg [1:0] in_data;
    begin
        for (d = 0; d < 2; d = d + 1) dma_done_r[d] = 1'b0;
        for (d = 0; d < 2; d = d + 1) in_data[d] = dma_on[d] && d_lat[d] == 0;
        active = in_data[0] + in_data[1];
        for (d = 0; d < 2; d = d + 1) begin
            if (in_data[d]) dma_data(d, BW_X256 / active);
            else if (dma_on[d]) d_lat[d] = d_lat[d] - 1;
            if (d_early[d] && dma_on[d]) begin
                $display("npu_core: DMA engine %0d promised done but has bytes left", d);
                mem_fault = 1'b1;
            end
        end
        if (launch[0] && cur_word[0][7:0] == OPCODE_LOAD) dma_begin(0, cur_word[0]);
        if (launch[3] && cur_word[3][7:0] == OPCODE_STORE) dma_begin(1, cur_word[3]);
        // done one edge early: the next edge's share covers every byte left
        for (d = 0; d < 2; d = d + 1) in_data[d] = dma_on[d] && d_lat[d] == 0;
        active = in_data[0] + in_data[1];
        for (d = 0; d < 2; d = d + 1)
            if (in_data[d] && !d_early[d]
                && d_credit[d] + BW_X256 / active >= (d_total[d] - d_spent[d]) * 256) begin
                d_early[d] = 1'b1;
                dma_done_r[d] = 1'b1;
            end
    end
endtask
