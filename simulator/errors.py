"""The project's error hierarchy: every user-facing failure is one of these.

Messages name the thing (node, op, tensor, key, instruction) and the bad value.
The CLI prints ``error: <message>`` and exits 2 for any ``NpuError``.
"""


class NpuError(Exception):
    """Base class of every error the toolchain raises on purpose."""


class ConfigError(NpuError):
    """A hardware configuration key, type or value is invalid."""


class ModelError(NpuError):
    """The ONNX model (or its inputs) cannot be used as given."""


class UnsupportedOpError(ModelError):
    """The model uses operators or attributes the NPU does not support."""


class ResourceError(ModelError):
    """A tensor, constant or program needs more than the memory budget or address space."""


class ProgramFormatError(NpuError):
    """A program file is malformed: magic, version, checksum or truncation."""


class SimulationError(NpuError):
    """The simulated program did something illegal: bad address, deadlock, hazard."""
