"""Builders of hostile and malformed files: crafted models, programs, inputs and configs.

Each builder writes into a folder and returns the path(s) it made; the files are small (a few
bytes to a few MB) even where they describe terabytes. Nothing here is committed as data: the
tests build every file in a temporary folder, deterministically.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT = TensorProto.FLOAT


def save_model(path: Path, nodes, inputs, outputs, inits=(), opset: int = 17) -> Path:
    """IR version 8 (what onnxruntime loads), no checker: hostile files need not pass it."""
    graph = helper.make_graph(list(nodes), path.stem, list(inputs), list(outputs), list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def tensor(name: str, shape, dtype=FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, None if shape is None else list(shape))


def const(name: str, values, dtype=np.int64) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


# --- models --------------------------------------------------------------------------------


def relu_model(path: Path, shape) -> Path:
    node = helper.make_node("Relu", ["x"], ["y"], name="relu0")
    return save_model(path, [node], [tensor("x", shape)], [tensor("y", shape)])


def reshape_model(path: Path, in_shape, target) -> Path:
    """x -> Reshape(target) -> Relu -> y: the target's element count may disagree with x's
    (y is declared with the target's shape, as an exporter would write it)."""
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape0"),
        helper.make_node("Relu", ["r"], ["y"], name="relu0"),
    ]
    inits = [const("shape", target)]
    return save_model(path, nodes, [tensor("x", in_shape)], [tensor("y", target)], inits)


def conv_model(path: Path, x_shape, w_shape, y_shape, name: str = "conv0", **attrs) -> Path:
    w = np.random.default_rng(0).standard_normal(w_shape).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], name=name, **attrs)
    inits = [numpy_helper.from_array(w, "w")]
    return save_model(path, [node], [tensor("x", x_shape)], [tensor("y", y_shape)], inits)


def zero_slice_model(path: Path) -> Path:
    """x[1,8] -> Slice to [1,0] -> Relu: a zero-size intermediate."""
    nodes = [
        helper.make_node("Slice", ["x", "st", "en", "ax"], ["s"], name="slice0"),
        helper.make_node("Relu", ["s"], ["y"], name="relu0"),
    ]
    inits = [const("st", [3]), const("en", [3]), const("ax", [1])]
    return save_model(path, nodes, [tensor("x", [1, 8])], [tensor("y", [1, 0])], inits)


def nan_scale_model(path: Path) -> Path:
    """x -> QuantizeLinear(scale NaN) -> DequantizeLinear -> Relu -> y."""
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="quant0"),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"], name="dequant0"),
        helper.make_node("Relu", ["d"], ["y"], name="relu0"),
    ]
    inits = [const("s", np.float32("nan"), np.float32), const("z", 0, np.int8)]
    return save_model(path, nodes, [tensor("x", [1, 16])], [tensor("y", [1, 16])], inits)


def constant_of_shape_model(path: Path, dims) -> Path:
    """ConstantOfShape(dims) + x: folding would materialise prod(dims) floats."""
    nodes = [
        helper.make_node("ConstantOfShape", ["dims"], ["c"], name="cos0"),
        helper.make_node("Add", ["x", "c"], ["y"], name="add0"),
    ]
    inits = [const("dims", dims)]
    y = tensor("y", [f"d{i}" for i in range(len(dims))])  # symbolic: inference finds them
    return save_model(path, nodes, [tensor("x", [1])], [y], inits)


def range_model(path: Path, limit: float) -> Path:
    """Range(0, limit, 1) -> Cast(float) -> Add x: a huge constant from three scalars."""
    nodes = [
        helper.make_node("Range", ["start", "limit", "delta"], ["r"], name="range0"),
        helper.make_node("Cast", ["r"], ["c"], name="cast0", to=FLOAT),
        helper.make_node("Add", ["x", "c"], ["y"], name="add0"),
    ]
    inits = [const("start", 0.0, np.float32), const("limit", limit, np.float32)]
    inits.append(const("delta", 1.0, np.float32))
    return save_model(path, nodes, [tensor("x", [1])], [tensor("y", ["n"])], inits)


def relu_chain_model(path: Path, count: int, shape=(1, 8)) -> Path:
    """A chain of ``count`` Relus (the DRAM planner's worst case was quadratic in it)."""
    names = ["x"] + [f"t{i}" for i in range(1, count)] + ["y"]
    nodes = [
        helper.make_node("Relu", [names[i]], [names[i + 1]], name=f"relu{i}") for i in range(count)
    ]
    return save_model(path, nodes, [tensor("x", shape)], [tensor("y", shape)])


def markup_name_model(path: Path) -> Path:
    """A valid model whose node and tensor names are rich console markup and mathtext."""
    nodes = [
        helper.make_node("Relu", ["x"], ["[bold]t"], name="[/bogus]"),
        helper.make_node("Relu", ["[bold]t"], ["u"], name="[red]relu[/red]"),
        helper.make_node("Relu", ["u"], ["y"], name="$\\frac{a$b$ :smile:"),
    ]
    return save_model(path, nodes, [tensor("x", [1, 8])], [tensor("y", [1, 8])])


def external_data_model(folder: Path, secret: Path) -> Path:
    """A model whose weight's external data is a symlink out of the model's folder."""
    (folder / "weights.bin").symlink_to(secret)
    w = onnx.TensorProto(name="w", data_type=FLOAT, dims=[4])
    w.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", "16")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    node = helper.make_node("Add", ["x", "w"], ["y"], name="add0")
    return save_model(folder / "ext.onnx", [node], [tensor("x", [4])], [tensor("y", [4])], [w])


def external_path_model(folder: Path, location: str) -> Path:
    """External data at ``location`` (absolute, or with ``..``) as written in the file."""
    w = onnx.TensorProto(name="w", data_type=FLOAT, dims=[4])
    w.data_location = onnx.TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", location
    node = helper.make_node("Add", ["x", "w"], ["y"], name="add0")
    return save_model(folder / "ext.onnx", [node], [tensor("x", [4])], [tensor("y", [4])], [w])


# --- inputs --------------------------------------------------------------------------------


def npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def npz_with_zero_bomb(path: Path, arrays: dict, member: str, gib: int) -> Path:
    """A real .npz whose extra member ``member`` inflates to ``gib`` GiB of zeros (a few MB).

    The deflate stream is one fully flushed 1 MiB block repeated: after a full flush the
    compressor keeps no history, so every block compresses to the same bytes.
    """
    np.savez(path, **arrays)
    header = _npy_header((gib << 30,), "|u1")
    block = 1 << 20
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(header) + comp.flush(zlib.Z_FULL_FLUSH)
    chunk = comp.compress(bytes(block)) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.flush(zlib.Z_FINISH)
    count = (gib << 30) // block
    crc = zlib.crc32(header)
    zero_block = bytes(block)
    for _ in range(count):
        crc = zlib.crc32(zero_block, crc)
    info = zipfile.ZipInfo(f"{member}.npy", date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.CRC = crc
    info.file_size = len(header) + (gib << 30)
    info.compress_size = len(head) + len(chunk) * count + len(tail)
    with zipfile.ZipFile(path, "a", allowZip64=True) as zf:
        # write the raw member: local header, then the pre-compressed bytes
        zf.fp.seek(zf.start_dir)
        info.header_offset = zf.fp.tell()
        zf.fp.write(info.FileHeader(zip64=True))
        zf.fp.write(head)
        for _ in range(count):
            zf.fp.write(chunk)
        zf.fp.write(tail)
        zf.start_dir = zf.fp.tell()
        zf.filelist.append(info)
        zf.NameToInfo[info.filename] = info
        zf._didModify = True
    return path


def _npy_header(shape: tuple, descr: str) -> bytes:
    text = repr({"descr": descr, "fortran_order": False, "shape": shape})
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def npz_with_header(path: Path, name: str, shape: tuple, descr: str = "<f4") -> Path:
    """An .npz whose one member's header declares ``shape`` over a few bytes of data."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}.npy", _npy_header(shape, descr) + bytes(64))
    return path


# --- programs ------------------------------------------------------------------------------


def rewrite_program(
    blob: bytes,
    manifest: Callable | None = None,
    words: Callable | None = None,
    edit: Callable | None = None,
):
    """A program file with its manifest and/or instruction words edited, checksum recomputed.

    ``manifest(dict) -> dict | bytes`` (bytes: the raw manifest text); ``words(list[bytes])``;
    ``edit(dict, list[bytes]) -> (dict | bytes, list[bytes])`` for edits of both at once.
    """
    from simulator.program import _DIGEST, _HEADER

    magic, version, res, n_manifest, n_instr, n_const = _HEADER.unpack_from(blob)
    start = _HEADER.size
    raw = blob[start : start + n_manifest]
    code = blob[start + n_manifest : start + n_manifest + 64 * n_instr]
    consts = blob[start + n_manifest + 64 * n_instr : len(blob) - _DIGEST]
    word_list = [code[i : i + 64] for i in range(0, len(code), 64)]
    edited = json.loads(raw)
    if words is not None:
        word_list = words(word_list)
    if manifest is not None:
        edited = manifest(edited)
    if edit is not None:
        edited, word_list = edit(edited, word_list)
    raw = edited if isinstance(edited, bytes) else json.dumps(edited).encode()
    header = _HEADER.pack(magic, version, res, len(raw), len(word_list), len(consts))
    body = header + raw + b"".join(word_list) + consts
    return body + hashlib.sha256(body).digest()


def encode(instr) -> bytes:
    from simulator import isa

    return isa.encode(instr)


def load_stride0_word() -> bytes:
    """A LOAD of 65535^3 4-byte elements, every stride 0: one element's bytes, 2.8e14 times."""
    from simulator.isa import Load

    big = 65535
    return encode(
        Load(sp=0, esize_log2=2, sp_addr=0, dram_addr=0, n0=big, n1=big, n2=big,
             ds0=0, ds1=0, ds2=0, ss0=0, ss1=0, ss2=0, hi0=big, hi1=big, hi2=big)
    )  # fmt: skip


def vector_zero_strides_word() -> bytes:
    """A VECTOR ADD over 65535^3 elements with every stride 0."""
    from simulator.isa import DType, Vector, VFunc

    big = 65535
    return encode(
        Vector(func=VFunc.ADD, n0=big, n1=big, n2=big, dst_sp=2, dst_dtype=DType.FP32,
               dst_s0=0, dst_s1=0, dst_s2=0, src0_dtype=DType.FP32, src0_s0=0, src0_s1=0,
               src0_s2=0, src1_dtype=DType.FP32, src1_s0=0, src1_s1=0, src1_s2=0)
    )  # fmt: skip


def sync_word() -> bytes:
    from simulator.isa import Sync

    return encode(Sync(queue=0))


def nested_json(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def relu_program(sync: bool = False):
    """x[4,8] float32 -> LOAD -> VECTOR RELU -> STORE -> y, at ``base`` (optionally with a SYNC)."""
    from simulator.builder import ProgramBuilder, dma
    from simulator.config import load_config
    from simulator.isa import DType, Load, Store, Sync, Unit, Vector, VFunc

    b = ProgramBuilder(load_config("base"))
    x = b.input("x", (4, 8), "float32")
    y = b.output("y", (4, 8), "float32")
    vec, store, load = (1 << u for u in (Unit.VECTOR, Unit.STORE, Unit.LOAD))
    b.emit(dma(Load, 0, 0, x.addr, (4, 8), esize=4, signal=vec), node="relu0")
    if sync:
        b.emit(Sync(queue=int(Unit.LOAD)), node="relu0")
    relu = Vector(
        func=VFunc.RELU, n1=4, n2=8, wait=load, signal=store,
        dst_sp=2, dst_dtype=DType.FP32, dst_s1=8,
        src0_sp=0, src0_dtype=DType.FP32, src0_s1=8,
    )  # fmt: skip
    b.emit(relu, node="relu0")
    b.emit(dma(Store, 2, 0, y.addr, (4, 8), esize=4, wait=vec), node="relu0")
    program = b.build()
    program.layers = [{"name": "relu0", "op": "Relu", "macs": 0}]
    return program


def program_file(path: Path, **kw) -> Path:
    from simulator import program_to_bytes

    path.write_bytes(program_to_bytes(relu_program(**kw)))
    return path


def partitioned_file(path: Path, edit: Callable | None = None) -> Path:
    """A .npuprog with a host partition: x[4,8] -> Relu (NPU) -> CumSum (host) -> Relu (NPU).
    ``edit(manifest, parts)`` may change the manifest and the parts; the file is then packed
    with a correct checksum, as an attacker would."""
    import compiler
    from npu import program_file
    from simulator import partfile
    from simulator.config import load_config

    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu0"),
        helper.make_node("CumSum", ["r", "axis"], ["c"], name="cumsum0"),
        helper.make_node("Relu", ["c"], ["y"], name="relu1"),
    ]
    graph = helper.make_graph(
        nodes, "parts", [tensor("x", [4, 8])], [tensor("y", [4, 8])], [const("axis", 1)]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    blob = program_file.to_bytes(compiler.compile_model(model, load_config("tiny")))
    manifest, parts = partfile.from_bytes(blob)
    if edit is not None:
        edit(manifest, parts)
    path.write_bytes(partfile.to_bytes(manifest, parts))
    return path


def host_model_bytes(parts: list) -> bytes:
    return next(body for device, body in parts if device == "host")


def replace_host(parts: list, body: bytes) -> None:
    k = next(i for i, (device, _) in enumerate(parts) if device == "host")
    parts[k] = ("host", body)
