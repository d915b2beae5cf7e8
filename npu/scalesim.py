"""SCALE-Sim's files in, SCALE-Sim's COMPUTE_REPORT.csv out: its layers on our cost model.

A SCALE-Sim (3.0) topology CSV has a header line, then one convolution per line:
``name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides``
(a trailing comma allowed). SCALE-Sim does not pad: the output is
``ceil((H - F + S) / S)`` by ``ceil((W - F + S) / S)``. A layer is the GEMM SCALE-Sim maps:
M = output pixels, K = F_h * F_w * C, N = filters. Its ``.cfg`` gives the array
(``[architecture_presets]`` ArrayHeight, ArrayWidth, Dataflow ws or os); the other keys
(SRAM sizes, offsets, bandwidth) do not change its compute cycles and are ignored.

Cycles come from the simulator's cost model in ``scalesim`` timing (``cost.matmul_cycles``),
which reproduces SCALE-Sim 3.0's compute cycles: per layer folds * per_fold - 1.
"""

from __future__ import annotations

import configparser
import csv
import math
from pathlib import Path
from typing import NamedTuple

from simulator.config import NpuConfig, load_config
from simulator.cost import matmul_cycles
from simulator.errors import ConfigError, ModelError

COLUMNS = ("Filter Height", "Filter Width", "Channels", "Num Filter", "Strides")
FIELDS = ("IFMAP Height", "IFMAP Width", *COLUMNS)
REPORT_HEADER = (
    "LayerID, Total Cycles, Compute Cycles, Stall Cycles, Overall Util %, "
    "Mapping Efficiency %, Compute Util %,"
)
DATAFLOWS = {"ws": "weight_stationary", "os": "output_stationary"}


class Layer(NamedTuple):
    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride: int

    @property
    def ofmap(self) -> tuple[int, int]:
        s = self.stride
        return (
            math.ceil((self.ifmap_h - self.filter_h + s) / s),
            math.ceil((self.ifmap_w - self.filter_w + s) / s),
        )

    @property
    def mkn(self) -> tuple[int, int, int]:
        h, w = self.ofmap
        return h * w, self.filter_h * self.filter_w * self.channels, self.filters


class Row(NamedTuple):
    """One line of COMPUTE_REPORT.csv."""

    layer: int
    cycles: int
    overall_util: float
    mapping_efficiency: float

    def csv(self) -> str:
        u, e = self.overall_util, self.mapping_efficiency
        return f"{self.layer}, {self.cycles}, {self.cycles}, 0, {u}, {e}, {u},"


def read_topology(path: str | Path) -> list[Layer]:
    """The layers of a SCALE-Sim topology CSV; ModelError naming the line and field."""
    text = _read(path, "topology")
    lines = list(csv.reader(text.splitlines()))
    if not lines:
        raise ModelError(f"topology {str(path)!r} is empty (expected a header line and layers)")
    layers = [
        _layer(path, number, fields)
        for number, fields in enumerate(lines[1:], start=2)
        if any(f.strip() for f in fields)
    ]
    if not layers:
        raise ModelError(f"topology {str(path)!r} has a header line but no layer")
    return layers


def _layer(path, number: int, fields: list[str]) -> Layer:
    where = f"topology {str(path)!r} line {number}"
    cells = [f.strip() for f in fields]
    while cells and not cells[-1]:
        cells.pop()  # SCALE-Sim's files end each line with a comma
    if len(cells) != 1 + len(FIELDS):
        raise ModelError(
            f"{where}: {len(cells)} fields, expected {1 + len(FIELDS)} "
            f"(Layer name, {', '.join(FIELDS)})"
        )
    values = []
    for name, cell in zip(FIELDS, cells[1:], strict=True):
        try:
            value = int(cell)
        except ValueError:
            value = 0
        if value < 1 or value > 1 << 31:
            raise ModelError(f"{where}: {name} is {cell!r}; it must be a positive integer")
        values.append(value)
    layer = Layer(cells[0], *values)
    if layer.filter_h > layer.ifmap_h or layer.filter_w > layer.ifmap_w:
        raise ModelError(
            f"{where} ({layer.name}): the {layer.filter_h}x{layer.filter_w} filter is larger "
            f"than the {layer.ifmap_h}x{layer.ifmap_w} IFMAP (SCALE-Sim does not pad)"
        )
    return layer


def read_cfg(path: str | Path) -> NpuConfig:
    """The base preset with SCALE-Sim's array: rows, cols, dataflow, ``timing = "scalesim"``."""
    parser = configparser.ConfigParser()
    try:
        parser.read_string(_read(path, "config"))
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"SCALE-Sim config {str(path)!r} is not a valid .cfg: {first}") from None
    section = "architecture_presets"
    if not parser.has_section(section):
        raise ConfigError(f"SCALE-Sim config {str(path)!r} has no [{section}] section")
    arch = parser[section]
    values = {}
    for key in ("ArrayHeight", "ArrayWidth", "Dataflow"):
        if key not in arch:
            raise ConfigError(f"SCALE-Sim config {str(path)!r}: [{section}] has no {key}")
        values[key] = arch[key].strip()
    dataflow = values["Dataflow"].lower()
    if dataflow not in DATAFLOWS:
        raise ConfigError(
            f"SCALE-Sim config {str(path)!r}: Dataflow is {values['Dataflow']!r}; "
            "supported: ws, os (input stationary is not modelled)"
        )
    dims = {}
    for key in ("ArrayHeight", "ArrayWidth"):
        try:
            dims[key] = int(values[key])
        except ValueError:
            raise ConfigError(
                f"SCALE-Sim config {str(path)!r}: {key} is {values[key]!r}; "
                "it must be a positive integer"
            ) from None
    overrides = {
        "timing": "scalesim",
        "array.rows": dims["ArrayHeight"],
        "array.cols": dims["ArrayWidth"],
        "array.dataflow": DATAFLOWS[dataflow],
    }
    return load_config("base", overrides)


def _read(path: str | Path, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"{what} file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ModelError(f"{what} file {str(path)!r} is a directory") from None
    except UnicodeDecodeError:
        raise ModelError(f"{what} file {str(path)!r} is not UTF-8 text") from None
    except OSError as exc:
        raise ModelError(f"cannot read {what} file {str(path)!r}: {exc.strerror}") from None


def report(layers: list[Layer], config: NpuConfig) -> list[Row]:
    """One row per layer: compute cycles (the cost model) and utilisations."""
    return [_row(i, layer, config) for i, layer in enumerate(layers)]


def _row(index: int, layer: Layer, config: NpuConfig) -> Row:
    m, k, n = layer.mkn
    r, c = config.array.rows, config.array.cols
    cycles = matmul_cycles(m, k, n, config)
    # The dimensions a fold maps onto the array's rows and columns.
    rows_dim = k if config.array.dataflow == "weight_stationary" else m
    folds = math.ceil(rows_dim / r) * math.ceil(n / c)
    mapping = 100 * rows_dim * n / (folds * r * c)  # the mean over folds of the PEs used
    return Row(index, cycles, 100 * m * k * n / (cycles * r * c), mapping)


def to_csv(rows: list[Row]) -> str:
    return "\n".join([REPORT_HEADER, *(row.csv() for row in rows)]) + "\n"
