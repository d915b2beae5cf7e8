"""npu package."""
