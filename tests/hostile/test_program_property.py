"""Crafted program files through ``npu run``: they run (exit 0) or fail cleanly (exit 2, one
``error:`` line, no output written), never hang, never exit 3.

Each example takes a valid program (``hostile_files.relu_program``), edits its manifest (any
field, any JSON value: out-of-range integers, wrong types, nested structures) and its
instruction stream (random instructions of every class, fields anywhere in their bit width,
inserted or replacing, with or without their ``node_of`` entry), recomputes the checksum and
runs the file through the CLI in-process under a time bound.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import hostile_files as hf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npu.cli import main as npu_main
from npu.conformance import CaseTimeout, time_bound
from simulator import isa, program_to_bytes

QUICK, LONG = 150, 3000
SECONDS = 20.0  # per example; a clean refusal takes milliseconds
BUDGETS = [pytest.param(QUICK, id="quick"), pytest.param(LONG, id="long", marks=pytest.mark.slow)]

INTS = (
    st.integers(0, 8)
    | st.integers(-4, 300)
    | st.sampled_from([-1, 1 << 31, 1 << 39, (1 << 39) + 64, 1 << 50, 1 << 63, -(1 << 63)])
    | st.integers(-(1 << 70), 1 << 70)
)
SCALARS = (
    st.none()
    | st.booleans()
    | INTS
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from(["float32", "int8", "V7", "object", "input", "output", "O", "<f4"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
TENSOR_FIELDS = ["name", "addr", "shape", "dtype", "kind", "scale", "zero_point", "extra"]
TOP_FIELDS = [
    "config", "config_fingerprint", "const_base", "dram_size", "tensors", "inputs", "outputs",
    "nodes", "node_of", "layers", "meta", "unknown",
]  # fmt: skip


@st.composite
def manifest_edit(draw):
    """A function editing one place of the manifest (or deleting it)."""
    where = draw(st.sampled_from(["top", "tensor", "shape", "layer", "node_of", "config"]))
    value = draw(JSON)
    delete = draw(st.booleans()) and draw(st.booleans())
    index = draw(st.integers(0, 2))
    top = draw(st.sampled_from(TOP_FIELDS))
    field = draw(st.sampled_from(TENSOR_FIELDS))
    config_key = draw(st.sampled_from(["clock_mhz", "array", "name", "timing", "bogus"]))

    def edit(m):
        try:
            _apply(m)
        except (TypeError, KeyError, IndexError, ZeroDivisionError):
            pass  # an earlier edit replaced the container: nothing left to edit here
        return m

    def _apply(m):
        if where == "top":
            target, key = m, top
        elif where == "tensor":
            target, key = m["tensors"][index % len(m["tensors"])], field
        elif where == "shape":
            target, key = m["tensors"][index % len(m["tensors"])]["shape"], index % 2
        elif where == "layer":
            target, key = m["layers"][0], field
        elif where == "node_of":
            target, key = m["node_of"], index
        else:
            target, key = m["config"], config_key
        if delete and isinstance(target, dict):
            target.pop(key, None)
        else:
            target[key] = value

    return edit


def field_value(fl) -> st.SearchStrategy[int]:
    lo = -(1 << (fl.bits - 1)) if fl.signed else 0
    hi = (1 << (fl.bits - 1)) - 1 if fl.signed else (1 << fl.bits) - 1
    return (
        st.integers(max(lo, 0), min(hi, 8))
        | st.integers(max(lo, 0), min(hi, 300))
        | st.integers(lo, hi)
    )


def instruction() -> st.SearchStrategy[bytes]:
    def record(cls):
        fields = {fl.name: field_value(fl) for fl in isa.layout(cls)[1:]}
        return st.fixed_dictionaries(fields).map(lambda kw: isa.encode(cls(**kw)))

    return st.sampled_from(isa.INSTRUCTIONS).flatmap(record)


@st.composite
def word_edit(draw):
    """Insert or replace random instructions; keep node_of in step, or not."""
    changes = draw(st.lists(st.tuples(st.integers(0, 5), instruction(), st.booleans()), max_size=3))
    keep_node_of = draw(st.booleans()) or draw(st.booleans())

    def edit(m_words):
        m, words = m_words
        for pos, word, replace in changes:
            pos = pos % (len(words) + 1)
            if replace and pos < len(words):
                words[pos] = word
            else:
                words.insert(pos, word)
                node_of = m.get("node_of") if isinstance(m, dict) else None
                if keep_node_of and isinstance(node_of, list) and node_of:
                    node_of.insert(pos, 1)
        return m, words

    return edit


def crafted(manifest_edits, word_edits) -> bytes:
    def edit(m, words):
        for word_edit in word_edits:
            m, words = word_edit((m, words))
        for manifest_edit in manifest_edits:
            m = manifest_edit(m)
        return m, words

    return hf.rewrite_program(program_to_bytes(hf.relu_program(sync=True)), edit=edit)


def run_cli(*argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = npu_main([str(a) for a in argv])
    return code, err.getvalue()


@pytest.mark.parametrize("budget", BUDGETS)
def test_crafted_programs_run_or_exit_2(budget, tmp_path):
    x = hf.npz(tmp_path / "in.npz", x=np.ones((4, 8), np.float32))
    prog, out = tmp_path / "p.npuprog", tmp_path / "y.npz"

    @settings(
        max_examples=int(os.environ.get("NPU_FUZZ_EXAMPLES", budget)),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(manifest_edit(), max_size=2), st.lists(word_edit(), max_size=2))
    def prop(manifest_edits, word_edits):
        prog.write_bytes(crafted(manifest_edits, word_edits))
        out.unlink(missing_ok=True)
        try:
            with time_bound(SECONDS):
                code, err = run_cli("run", prog, "--inputs", x, "--out", out)
        except CaseTimeout as exc:
            raise AssertionError(f"hang: {exc}") from None
        assert code in (0, 2), err
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), err
            assert not out.exists()
        else:
            assert out.exists()

    prop()


def test_the_unedited_program_runs(tmp_path):
    """The property is meaningful only if the starting program runs."""
    x = hf.npz(tmp_path / "in.npz", x=np.ones((4, 8), np.float32))
    prog = tmp_path / "p.npuprog"
    prog.write_bytes(crafted([], []))
    code, err = run_cli("run", prog, "--inputs", x, "--out", tmp_path / "y.npz")
    assert code == 0, err
    y = np.load(tmp_path / "y.npz")["y"]
    assert np.array_equal(y, np.ones((4, 8), np.float32))
    assert Path(tmp_path / "y.npz").is_file()
