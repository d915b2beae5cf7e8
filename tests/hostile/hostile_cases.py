"""The hostile inputs of issue #11, one entry each: how to make the files, the command line,
and the words its one-line error must contain.

``CASES[name](folder)`` writes the case's files into ``folder`` (the command runs there) and
returns a ``Case``. Every case must end with exit 2, one ``error: ...`` line containing every
word, nothing written, no file changed, under the time and memory bounds of ``hostile_run``.
``ACCEPTED`` holds the inputs that look odd but are legal: they must succeed (exit 0).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import hostile_files as hf
import numpy as np
import onnx

BAD_DATA = Path(__file__).parents[1] / "data" / "bad"


@dataclass
class Case:
    argv: list
    words: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    code: int = 2
    writes: tuple[str, ...] = ()  # files an accepted case is expected to create


CASES: dict[str, Callable[[Path], Case]] = {}
ACCEPTED: dict[str, Callable[[Path], Case]] = {}


def case(name: str, table: dict = CASES):
    def register(fn):
        assert name not in table, name
        table[name] = fn
        return fn

    return register


def good_model(d: Path) -> Path:
    return hf.relu_model(d / "m.onnx", [1, 8])


def good_inputs(d: Path, shape=(1, 8)) -> Path:
    return hf.npz(d / "in.npz", x=np.ones(shape, np.float32))


def good_program(d: Path, **kw) -> Path:
    return hf.program_file(d / "p.npuprog", **kw)


def program_inputs(d: Path) -> Path:
    return hf.npz(d / "in.npz", x=np.ones((4, 8), np.float32))


def prepend(word: bytes):
    """Edits that put ``word`` first (and its node_of entry with it)."""

    def manifest(m):
        m["node_of"] = [1, *m["node_of"]]
        return m

    return {"manifest": manifest, "words": lambda w: [word, *w]}


def edited_program(d: Path, manifest=None, words=None) -> Path:
    path = d / "p.npuprog"
    blob = hf.rewrite_program(good_program(d).read_bytes(), manifest, words)
    path.write_bytes(blob)
    return path


def run_program(d: Path, prog: Path, *words: str) -> Case:
    return Case(["run", prog.name, "--inputs", program_inputs(d).name, "--out", "y.npz"], words)


def compile_case(path: Path, *words: str, extra=()) -> Case:
    return Case(["compile", path.name, *extra, "-o", "out.npuprog"], words)


# --- wrong answers with exit 0 --------------------------------------------------------------


@case("reshape element count disagrees")
def _(d):
    return compile_case(hf.reshape_model(d / "m.onnx", [1, 16], [4, 8]), "reshape0", "16", "32")


@case("reshape to 1e12 elements")
def _(d):
    path = hf.reshape_model(d / "m.onnx", [1, 16], [1000000, 1000000])
    return compile_case(path, "[1000000, 1000000]", "bytes")


def _tensor(m, key, value):
    for t in m["tensors"]:
        if t["name"] == "x":
            t[key] = value
    return m


@case("manifest input dtype V7")
def _(d):
    return run_program(d, edited_program(d, lambda m: _tensor(m, "dtype", "V7")), "dtype", "V7")


# --- user files destroyed -----------------------------------------------------------------


@case("compile -o the model itself")
def _(d):
    model = good_model(d)
    return Case(["compile", model.name, "-o", model.name], ("m.onnx", "same file"))


@case("run --out the model itself")
def _(d):
    model, x = good_model(d), good_inputs(d)
    return Case(["run", model.name, "--inputs", x.name, "--out", model.name], ("m.onnx",))


@case("run --out the inputs")
def _(d):
    model, x = good_model(d), good_inputs(d)
    return Case(["run", model.name, "--inputs", x.name, "--out", x.name], ("in.npz", "same file"))


@case("run --out the inputs through a hard link")
def _(d):
    model, x = good_model(d), good_inputs(d)
    os.link(x, d / "alias.npz")
    return Case(["run", model.name, "--inputs", x.name, "--out", "alias.npz"], ("alias.npz",))


@case("run --out equal to --stats")
def _(d):
    model, x = good_model(d), good_inputs(d)
    argv = ["run", model.name, "--inputs", x.name, "--out", "y.npz", "--stats", "./y.npz"]
    return Case(argv, ("y.npz", "--stats"))


@case("profile --json equal to --html")
def _(d):
    argv = ["profile", good_model(d).name, "--json", "r.json", "--html", "r.json"]
    return Case(argv, ("r.json",))


@case("run --out a FIFO")
def _(d):
    os.mkfifo(d / "fifo")
    argv = ["run", good_model(d).name, "--inputs", good_inputs(d).name, "--out", "fifo"]
    return Case(argv, ("fifo", "not a regular file"))


@case("run --out a symlink")
def _(d):
    (d / "keep.txt").write_text("precious\n")
    (d / "y.npz").symlink_to("keep.txt")
    argv = ["run", good_model(d).name, "--inputs", good_inputs(d).name, "--out", "y.npz"]
    return Case(argv, ("y.npz", "symlink"))


@case("run --out /dev/null")
def _(d):
    argv = ["run", good_model(d).name, "--inputs", good_inputs(d).name, "--out", "/dev/null"]
    return Case(argv, ("/dev/null", "not a regular file"))


@case("compile -o a symlink into another folder")
def _(d):
    (d / "elsewhere").mkdir()
    (d / "elsewhere" / "target.npuprog").write_text("precious\n")
    (d / "out.npuprog").symlink_to("elsewhere/target.npuprog")
    return Case(["compile", good_model(d).name, "-o", "out.npuprog"], ("out.npuprog", "symlink"))


@case("zoo build through a planted symlink")
def _(d):
    (d / "out").mkdir()
    (d / "keep.txt").write_text("precious\n")
    (d / "out" / "lenet5.onnx").symlink_to("../keep.txt")
    return Case(["zoo", "build", "lenet5", "-o", "out"], ("lenet5.onnx", "symlink"))


@case("zoo build -o a file")
def _(d):
    (d / "file").write_text("precious\n")
    return Case(["zoo", "build", "lenet5", "-o", "file"], ("file", "not a directory"))


@case("NPU_ZOO_CACHE is a file")
def _(d):
    (d / "cache").write_text("precious\n")
    argv = ["compile", "zoo:lenet5", "-o", "out.npuprog"]
    return Case(argv, ("NPU_ZOO_CACHE", "not a directory"), env={"NPU_ZOO_CACHE": "cache"})


@case("conformance --json into a missing folder")
def _(d):
    argv = ["conformance", "--ops", "Relu", "--no-models", "--json", "no/such/dir/r.json"]
    return Case(argv, ("no/such/dir",))


@case("run --out /proc/y.npz")
def _(d):
    argv = ["run", good_model(d).name, "--inputs", good_inputs(d).name, "--out", "/proc/y.npz"]
    return Case(argv, ("/proc/y.npz",))


# --- a tiny file exhausts the machine -------------------------------------------------------


@case("Relu on x[1e6,1e6]")
def _(d):
    return compile_case(hf.relu_model(d / "m.onnx", [10**6, 10**6]), "x", "bytes")


@case("input of 2^40 elements")
def _(d):
    return compile_case(hf.relu_model(d / "m.onnx", [1 << 20, 1 << 20]), "x", "bytes")


@case("input of 4 x 2^62 elements (int64 overflow)")
def _(d):
    return compile_case(hf.relu_model(d / "m.onnx", [4, 1 << 62]), "x")


@case("--input-shape of 2^40 elements")
def _(d):
    path = hf.relu_model(d / "m.onnx", ["n", 8])
    return compile_case(path, "x", "bytes", extra=["--input-shape", f"x={1 << 37},8"])


@case("--input-shape beyond int64")
def _(d):
    path = hf.relu_model(d / "m.onnx", ["n", 8])
    shape = f"x={'9' * 20},8"
    return compile_case(path, "--input-shape", "address space", extra=["--input-shape", shape])


@case("compile with --max-memory below the model's tensors")
def _(d):
    path = hf.relu_model(d / "m.onnx", [1, 1024])
    return compile_case(path, "4,096 bytes", "--max-memory", extra=["--max-memory", "1K"])


@case("run with --max-memory below the simulated memories")
def _(d):
    case = run_program(d, good_program(d), "simulating", "--max-memory")
    case.argv += ["--max-memory", "64K"]
    return case


@case("--max-memory that is no size")
def _(d):
    return compile_case(good_model(d), "--max-memory", "lots", extra=["--max-memory", "lots"])


@case("LOAD of 65535^3 elements at stride 0")
def _(d):
    prog = edited_program(d, **prepend(hf.load_stride0_word()))
    return run_program(d, prog, "instruction 0", "LOAD", "elements")


@case("VECTOR of 65535^3 elements at stride 0")
def _(d):
    prog = edited_program(d, **prepend(hf.vector_zero_strides_word()))
    return run_program(d, prog, "instruction 0", "VECTOR", "elements")


@case("npz with an extra 1 GiB zero member")
def _(d):
    x = np.ones((1, 8), np.float32)
    hf.npz_with_zero_bomb(d / "in.npz", {"x": x}, "zz", 1)
    return Case(["run", good_model(d).name, "--inputs", "in.npz", "--out", "y.npz"], ("zz",))


@case("npz header declaring 1e12 elements")
def _(d):
    hf.npz_with_header(d / "in.npz", "x", (10**6, 10**6))
    argv = ["run", good_model(d).name, "--inputs", "in.npz", "--out", "y.npz"]
    return Case(argv, ("x", "1000000"))


@case("ConstantOfShape([40000,40000]) into an Add")
def _(d):
    return compile_case(hf.constant_of_shape_model(d / "m.onnx", [40000, 40000]), "cos0", "bytes")


@case("Range(0, 3e9) -> Cast -> Add")
def _(d):
    return compile_case(hf.range_model(d / "m.onnx", 3e9), "[3000000000]", "bytes")


@case("external data through a symlink out of the folder")
def _(d):
    (d / "secret").mkdir()
    (d / "secret" / "key").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    (d / "model").mkdir()
    path = hf.external_data_model(d / "model", d / "secret" / "key")
    return Case(["compile", f"model/{path.name}", "-o", "out.npuprog"], ("weights.bin", "outside"))


@case("external data at an absolute path")
def _(d):
    path = hf.external_path_model(d, "/etc/hostname")
    return compile_case(path, "/etc/hostname", "relative path")


@case("external data with ..")
def _(d):
    (d / "model").mkdir()
    path = hf.external_path_model(d / "model", "../secret.bin")
    (d / "secret.bin").write_bytes(bytes(16))
    return Case(["compile", f"model/{path.name}", "-o", "out.npuprog"], ("secret.bin", "outside"))


# --- config mistakes --------------------------------------------------------------------------


def _compile_with(d: Path, *flags: str) -> list:
    return ["compile", good_model(d).name, *flags, "-o", "out.npuprog"]


# one of each kind through the CLI; tests/hostile/test_config_values.py covers every key
for _key, _value in (
    ("clock_mhz", "nan"),
    ("dram.bytes_per_cycle", "inf"),
    ("tech_nm", "-inf"),
):

    @case(f"--set {_key}={_value}")
    def _(d, key=_key, value=_value):
        return Case(_compile_with(d, "--set", f"{key}={value}"), (key, value))


@case("NaN in a TOML config")
def _(d):
    (d / "c.toml").write_text('inherit = "base"\nclock_mhz = nan\n')
    return Case(_compile_with(d, "--config", "c.toml"), ("clock_mhz", "nan"))


@case("inf in a TOML section")
def _(d):
    (d / "c.toml").write_text('inherit = "base"\n[dram]\nbytes_per_cycle = inf\n')
    return Case(_compile_with(d, "--config", "c.toml"), ("dram.bytes_per_cycle", "inf"))


@case("--set dram.latency=2^62")
def _(d):
    return Case(_compile_with(d, "--set", f"dram.latency={1 << 62}"), ("dram.latency",))


@case("--set scratchpad.input_kib=1e12")
def _(d):
    return Case(_compile_with(d, "--set", "scratchpad.input_kib=1e12"), ("scratchpad.input_kib",))


@case("--set a value nested 30k deep")
def _(d):
    deep = "[" * 30000 + "]" * 30000
    return Case(_compile_with(d, "--set", f"array.rows={deep}"), ("array.rows",))


@case("TOML nested 30k deep")
def _(d):
    (d / "c.toml").write_text("x = " + "[" * 30000 + "]" * 30000 + "\n")
    return Case(_compile_with(d, "--config", "c.toml"), ("c.toml",))


@case("inherit chain of 1500 files")
def _(d):
    for i in range(1500):
        text = f'inherit = "c{i + 1}.toml"\n' if i < 1499 else 'inherit = "base"\n'
        (d / f"c{i}.toml").write_text(text)
    return Case(_compile_with(d, "--config", "c0.toml"), ("inherit",))


@case("--config ''")
def _(d):
    return Case(_compile_with(d, "--config", ""), ("--config",))


@case("--seed -1")
def _(d):
    return Case(["check", good_model(d).name, "--seed", "-1"], ("--seed", "-1"))


# --- program manifests --------------------------------------------------------------------


def _set(key, value):
    def edit(m):
        m[key] = value
        return m

    return edit


@case("manifest dram_size 2^50")
def _(d):
    return run_program(d, edited_program(d, _set("dram_size", 1 << 50)), "dram_size")


@case("manifest dram_size negative")
def _(d):
    return run_program(d, edited_program(d, _set("dram_size", -64)), "dram_size", "-64")


@case("manifest node_of out of range")
def _(d):
    def edit(m):
        m["node_of"][0] = 99
        return m

    return run_program(d, edited_program(d, edit), "node_of", "99")


@case("manifest output dtype object")
def _(d):
    def edit(m):
        for t in m["tensors"]:
            if t["name"] == "y":
                t["dtype"] = "object"
        return m

    return run_program(d, edited_program(d, edit), "dtype", "object")


@case("manifest negative shape")
def _(d):
    return run_program(d, edited_program(d, lambda m: _tensor(m, "shape", [-4, 8])), "shape")


@case("manifest tensor outside DRAM")
def _(d):
    return run_program(d, edited_program(d, lambda m: _tensor(m, "addr", 1 << 38)), "addr")


@case("manifest JSON nested 100k deep")
def _(d):
    def edit(m):
        text = json.dumps(m).encode()
        return text[:-1] + b', "deep": ' + hf.nested_json(100000) + b"}"

    return run_program(d, edited_program(d, edit), "manifest", "deep")


@case("manifest layers of the wrong type")
def _(d):
    return run_program(d, edited_program(d, _set("layers", "relu0")), "layers")


@case("manifest inputs naming no tensor")
def _(d):
    return run_program(d, edited_program(d, _set("inputs", ["nope"])), "inputs", "nope")


# --- models ---------------------------------------------------------------------------------


@case("3x3 Conv on a 2x2 input, no padding")
def _(d):
    return compile_case(
        hf.conv_model(d / "m.onnx", [1, 1, 2, 2], [1, 1, 3, 3], [1, 1, 0, 0]), "conv0"
    )


@case("Conv group=7 on 3 channels")
def _(d):
    path = hf.conv_model(d / "m.onnx", [1, 3, 8, 8], [7, 1, 3, 3], [1, 7, 6, 6], group=7)
    return compile_case(path, "conv0", "group")


@case("zero-size intermediate (Slice to [1,0])")
def _(d):
    # onnxruntime runs it, so by default it goes to the host; --npu-only names the limit.
    path = hf.zero_slice_model(d / "m.onnx")
    return compile_case(path, "slice0", "zero-size", "not support", extra=["--npu-only"])


@case("NaN QDQ scale")
def _(d):
    return compile_case(hf.nan_scale_model(d / "m.onnx"), "quant0", "scale", "nan")


# --- inputs ---------------------------------------------------------------------------------


@case("an .npy given as --inputs")
def _(d):
    np.save(d / "in.npy", np.ones((1, 8), np.float32))
    argv = ["run", good_model(d).name, "--inputs", "in.npy", "--out", "y.npz"]
    return Case(argv, ("in.npy", ".npz"))


@case("npz member of another dtype kind (object)")
def _(d):
    hf.npz_with_header(d / "in.npz", "x", (1, 8), "|O")
    argv = ["run", good_model(d).name, "--inputs", "in.npz", "--out", "y.npz"]
    return Case(argv, ("x",))


# --- legal but odd: must succeed -------------------------------------------------------------


@case("a program with a SYNC instruction", ACCEPTED)
def _(d):
    prog = good_program(d, sync=True)
    argv = ["run", prog.name, "--inputs", program_inputs(d).name, "--out", "y.npz"]
    return Case(argv, code=0, writes=("y.npz",))


@case("node named [/bogus] through profile", ACCEPTED)
def _(d):
    argv = ["profile", hf.markup_name_model(d / "m.onnx").name, "--html", "r.html"]
    return Case(argv, ("[/bogus]", "[red]relu[/red]", ":smile:"), code=0, writes=("r.html",))


@case("inherit resolved next to the config file", ACCEPTED)
def _(d):
    (d / "cfg").mkdir()
    (d / "cfg" / "parent.toml").write_text('inherit = "base"\n[array]\nrows = 8\n')
    (d / "cfg" / "child.toml").write_text('inherit = "parent.toml"\n[array]\ncols = 8\n')
    argv = ["configs", "show", "cfg/child.toml"]
    return Case(argv, ("rows", "8"), code=0)


@case("external data inside the model's folder", ACCEPTED)
def _(d):
    (d / "model").mkdir()
    (d / "model" / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    path = hf.external_path_model(d / "model", "w.bin").relative_to(d)
    return Case(["compile", path, "-o", "out.npuprog"], code=0, writes=("out.npuprog",))


@case("a chain of 30,000 Relus (the DRAM plan was quadratic)", ACCEPTED)
def _(d):
    path = hf.relu_chain_model(d / "m.onnx", 30000)
    return Case(["compile", path.name, "-o", "out.npuprog"], code=0, writes=("out.npuprog",))


# --- partitioned programs: host partitions (ONNX models) inside the program file ------------


def partitioned(d: Path, edit=None) -> Path:
    return hf.partitioned_file(d / "p.npuprog", edit)


@case("host partition is not ONNX")
def _(d):
    prog = partitioned(d, lambda m, parts: hf.replace_host(parts, b"\x0a\xff\x01garbage" * 9))
    return run_program(d, prog, "host partition", "not a valid ONNX model")


@case("host partition names external data")
def _(d):
    def edit(m, parts):
        model = onnx.ModelProto.FromString(hf.host_model_bytes(parts))
        t = model.graph.initializer[0]
        t.ClearField("raw_data")
        t.ClearField("int64_data")
        t.data_location = onnx.TensorProto.EXTERNAL
        t.external_data.add(key="location", value="/etc/passwd")
        hf.replace_host(parts, model.SerializeToString())

    return run_program(d, partitioned(d, edit), "host partition", "external data")


@case("host partition declares a terabyte output")
def _(d):
    def edit(m, parts):
        model = onnx.ModelProto.FromString(hf.host_model_bytes(parts))
        dims = model.graph.output[0].type.tensor_type.shape.dim
        dims[0].dim_value = 1 << 40
        hf.replace_host(parts, model.SerializeToString())

    return run_program(d, partitioned(d, edit), "host partition")


@case("partition reads a tensor nothing makes")
def _(d):
    def edit(m, parts):
        m["segments"][1]["inputs"][0]["name"] = "ghost"

    return run_program(d, partitioned(d, edit), "ghost")


@case("partitioned manifest lies about a part's size")
def _(d):
    def edit(m, parts):
        parts.append(("host", b""))

    return run_program(d, partitioned(d, edit), "segments")
