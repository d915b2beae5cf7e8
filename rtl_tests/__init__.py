"""RTL models of the NPU's units and their cocotb benches (see docs/rtl.md)."""
