`timescale 1ns/1ps
// npu_core: a whole NPU core that runs a compiled program (the instruction words of a .npuprog)
// from an instruction memory against a DRAM model, for the presets small enough to simulate
// (`tiny`). Parameters come from the NpuConfig (rtl_tests/core/harness.py passes them).
//
// Structure
//   - Memories: instruction memory (512-bit words), DRAM and the three scratchpads as byte
//     arrays. `load` (one cycle, before `run`) fills imem and DRAM from imem.hex / dram.hex in
//     the simulation's working folder ($readmemh; dram.hex covers all the DRAM a program uses); at the end DRAM is written to dram_out.hex
//     and the per-instruction records to records.txt.
//   - Control (npu_core_ctrl.vh, on the falling edge): fetch/decode of instruction words with the
//     field positions of npu_isa.vh, in-order dispatch into the four unit queues (QDEPTH
//     instructions not yet started per queue; END closes the stream), dependency-token counters
//     for the 16 channels (TDEPTH each), and the start rule of simulator/timing.py: a unit starts
//     its queue head when it is idle, every waited channel holds a token and every signalled
//     channel has room. Completions push tokens. Units are examined in Unit order.
//   - Units (on the rising edge): the LOAD and STORE DMA engines (npu_core_dma.vh: strided 3-D
//     descriptors, windows with pad fill, DRAM latency, a byte budget of BW_X256/256 bytes per
//     cycle shared equally by the engines in their data phase, bursts of BURST bytes per
//     contiguous run), the weight-stationary systolic array (npu_systolic_array, int8) and the
//     vector unit (npu_vector_unit: its integer functions) behind operand-fetch adapters that
//     gather their strided scratchpad boxes (npu_core_fetch.vh), and Sync (one cycle).
//
// Timing: an instruction's start is the rising edge at which its unit samples it; its unit
// raises done at start + cost() (the units' contract); the control sees done at the next falling
// edge and the unit, or an instruction waiting for its tokens, starts at the following rising
// edge. So every instruction occupies its unit cost() + 1 cycles: one issue cycle more than the
// Python timing model, which starts the next instruction in the cycle the previous one ends.
// records.txt holds "index start end hash" with end = done edge + 1.
//
// Out of scope (the core stops with `error` and `err_index`): GATHER, SCATTER, float MatMuls,
// vector functions other than the integer set of npu_vector_unit and float vector operands.
//
// MUTATION (tests only, 0 in normal use): 1 releases the MATRIX unit's tokens one cycle before
// its done is seen; 2 reads DRAM with dim-1 stride ds1 + 1 in the LOAD engine.
module npu_core #(
    parameter integer ROWS = 4,
    parameter integer COLS = 4,
    parameter integer LANES = 4,
    parameter integer PIPELINE_DEPTH = 4,
    parameter integer IN_BYTES = 16384,
    parameter integer W_BYTES = 8192,
    parameter integer ACC_BYTES = 16384,
    parameter integer DRAM_BYTES = 4194304,
    parameter integer IMEM_WORDS = 4096,
    parameter integer QDEPTH = 64,
    parameter integer TDEPTH = 8,
    parameter integer LATENCY = 20,
    parameter integer BW_X256 = 2048,
    parameter integer BURST = 64,
    parameter integer MUTATION = 0
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        load,       // one cycle: read imem.hex and dram.hex
    input  wire        run,        // start fetching (held high)
    input  wire [31:0] dump_bytes, // DRAM bytes [0, dump_bytes) go to dram_out.hex at the end
    output reg         halted,     // the stream ended and every unit is idle, or an error
    output reg  [ 7:0] error,      // 0: none (codes: ERR_* below)
    output reg  [31:0] err_index,  // the instruction the error is about
    output reg  [31:0] cycles      // the last instruction's end
);
`include "npu_isa.vh"
    localparam [7:0] ERR_UNSUPPORTED = 8'd1;  // an instruction outside the RTL's scope
    localparam [7:0] ERR_OPCODE = 8'd2;  // an opcode that is not an instruction
    localparam [7:0] ERR_DEADLOCK = 8'd3;  // nothing busy, nothing can start
    localparam [7:0] ERR_MEMORY = 8'd4;  // an access outside a memory
    localparam integer AB = 24;  // operand word address bits of the array and the vector unit

    // ---------------------------------------------------------------- memories
    reg [ISA_WORD_BITS-1:0] imem[0:IMEM_WORDS-1];
    reg [7:0] dram[0:DRAM_BYTES-1];
    reg [7:0] sp_in[0:IN_BYTES-1];
    reg [7:0] sp_w[0:W_BYTES-1];
    reg [7:0] sp_acc[0:ACC_BYTES-1];

    reg [31:0] cyc;  // rising edges since run
    reg mem_fault;  // set by a unit that accessed outside a memory

    function automatic [7:0] rd8(input [1:0] mem, input [63:0] a);
        begin
            rd8 = 8'd0;
            case (mem)
                2'd0: if (a < IN_BYTES) rd8 = sp_in[a[31:0]];
                2'd1: if (a < W_BYTES) rd8 = sp_w[a[31:0]];
                2'd2: if (a < ACC_BYTES) rd8 = sp_acc[a[31:0]];
                default: if (a < DRAM_BYTES) rd8 = dram[a[31:0]];
            endcase
        end
    endfunction

    // An element of 1, 2 or 4 bytes, little-endian, zero-extended.
    function automatic [31:0] rd_elem(input [1:0] mem, input [63:0] a, input [2:0] size);
        integer b;
        begin
            rd_elem = 32'd0;
            for (b = 0; b < 4; b = b + 1)
                if (b < size) rd_elem[b*8+:8] = rd8(mem, a + b);
        end
    endfunction

    function automatic in_range(input [1:0] mem, input [63:0] a);
        begin
            case (mem)
                2'd0: in_range = a < IN_BYTES;
                2'd1: in_range = a < W_BYTES;
                2'd2: in_range = a < ACC_BYTES;
                default: in_range = a < DRAM_BYTES;
            endcase
        end
    endfunction

    // Stores go through this task only (called from the one rising-edge block).
    task automatic wr8(input [1:0] mem, input [63:0] a, input [7:0] v);
        begin
            if (!in_range(mem, a)) mem_fault = 1'b1;
            else
                case (mem)
                    2'd0: sp_in[a[31:0]] = v;
                    2'd1: sp_w[a[31:0]] = v;
                    2'd2: sp_acc[a[31:0]] = v;
                    default: dram[a[31:0]] = v;
                endcase
        end
    endtask

    task automatic wr_elem(input [1:0] mem, input [63:0] a, input [2:0] size, input [31:0] v);
        integer b;
        begin
            for (b = 0; b < 4; b = b + 1) if (b < size) wr8(mem, a + b, v[b*8+:8]);
        end
    endtask

    // ---------------------------------------------------------------- unit handshakes
    // Set by the control at a falling edge, sampled by the units at the next rising edge.
    reg [3:0] launch;  // per unit: start its current instruction
    reg [ISA_WORD_BITS-1:0] cur_word[0:3];  // the instruction each unit runs
    reg [31:0] cur_index[0:3];
    wire [3:0] unit_done;  // per unit: done pulse (high for the cycle after its last edge)

`include "npu_core_fetch.vh"
`include "npu_core_dma.vh"
`include "npu_core_ctrl.vh"

    // ---------------------------------------------------------------- the rising edge
    reg sync_a[0:3], sync_done[0:3];  // Sync: done one edge after the start edge (cost 1)
    integer su;
    always @(posedge clk) begin
        if (rst) begin
            cyc <= 32'd0;
            mem_fault = 1'b0;
            for (su = 0; su < 4; su = su + 1) begin
                sync_a[su] <= 1'b0;
                sync_done[su] <= 1'b0;
            end
            dma_reset();
        end else begin
            if (load) begin
                for (su = 0; su < IN_BYTES; su = su + 1) sp_in[su] = 8'd0;
                for (su = 0; su < W_BYTES; su = su + 1) sp_w[su] = 8'd0;
                for (su = 0; su < ACC_BYTES; su = su + 1) sp_acc[su] = 8'd0;
                $readmemh("imem.hex", imem);
                $readmemh("dram.hex", dram);
            end
            if (run && !halted) cyc <= cyc + 32'd1;
            for (su = 0; su < 4; su = su + 1) begin
                sync_a[su] <= launch[su] && cur_word[su][7:0] == OPCODE_SYNC;
                sync_done[su] <= sync_a[su];
            end
            dma_step();
            fetch_step();
        end
    end
    assign unit_done[0] = dma_done[0] || sync_done[0];
    assign unit_done[1] = mx_done || sync_done[1];
    assign unit_done[2] = vx_done || sync_done[2];
    assign unit_done[3] = dma_done[1] || sync_done[3];
endmodule
