"""The op registry: one declaration per op, no import cycle, internal ops kept apart, and the
per-node support predicate."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler import driver, ops
from compiler.ir import Graph, Node, TensorType
from compiler.opdecl import OpSupport, OpTable

ROOT = Path(__file__).resolve().parents[2]
INTERNAL = {"QAdd", "QConv", "QEltwise", "QGemm", "QMatMul", "QMul", "QSum", "Relayout"}


def test_lowerings_never_import_the_registry():
    """Imports go one way: compiler.ops imports the lowerings, never the reverse."""
    for path in sorted((ROOT / "compiler" / "lowering").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "compiler.ops", path.name
                names = {a.name for a in node.names}
                assert not (node.module == "compiler" and "ops" in names), path.name
            if isinstance(node, ast.Import):
                assert "compiler.ops" not in {a.name for a in node.names}, path.name


@pytest.mark.parametrize("module", ["compiler.lowering.conv", "compiler.ops", "compiler.opdecl"])
def test_each_module_imports_alone(module):
    """A fresh interpreter can import any of them first (no cycle to break by import order)."""
    code = f"import {module}; import compiler.ops as o; print(len(o.supported_ops()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(ops.supported_ops())


def test_gemm_check_is_declared_with_it():
    gemm = ops.lookup("Gemm")
    assert gemm.check is not None and gemm.lower is not None
    assert gemm.check.__name__ == "_check_gemm"


def test_internal_ops_kept_out_of_the_user_list():
    user = {o.op for o in ops.supported_ops()}
    everything = {o.op for o in ops.supported_ops(internal=True)}
    assert INTERNAL <= everything
    assert not INTERNAL & user
    assert {"Conv", "Gemm", "Add", "Softmax"} <= user
    assert all(ops.lookup(op).internal for op in INTERNAL)


def test_npu_ops_lists_no_internal_op():
    out = subprocess.run(
        [sys.executable, "-m", "npu", "ops", "--json"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    listed = {row["op"] for row in json.loads(out.stdout)}
    assert listed == {o.op for o in ops.supported_ops()}
    assert not listed & INTERNAL


def test_a_duplicate_declaration_is_an_error():
    table = OpTable()
    table.declare("Foo", "float32", "x")(lambda ctx, node: None)
    with pytest.raises(ValueError, match="'Foo' declared twice"):
        table.declare("Foo", "float32", "y")(lambda ctx, node: None)
    other = OpTable()
    other.add(OpSupport("Foo", "float32", "z"))
    with pytest.raises(ValueError, match="'Foo' is declared by two lowering modules"):
        ops._merge([table, other])


def _graph(op: str, dtype: str = "float32") -> Graph:
    g = Graph()
    g.inputs, g.outputs = ["x"], ["y"]
    g.tensors["x"] = TensorType((2, 3), dtype)
    g.tensors["y"] = TensorType((2, 3), dtype)
    g.add(Node("n", op, ("x",), ("y",), opset=17))
    return g


def test_predicate_supported_node():
    g = _graph("Relu")
    assert ops.unsupported_reason(g.node("n"), g) is None


def test_predicate_undeclared_and_internal_ops():
    for op in ("NonMaxSuppression", "QSum", "Relayout"):
        g = _graph(op)
        assert ops.unsupported_reason(g.node("n"), g) == ops.NOT_DECLARED


def test_predicate_names_a_dtype_the_op_does_not_accept():
    g = _graph("Conv", "float64")
    reason = ops.unsupported_reason(g.node("n"), g)
    assert reason == "tensor 'x' has dtype float64; Conv accepts float32"


def test_predicate_runs_the_ops_own_check():
    g = _graph("Gemm")
    g.constants["b"] = np.ones((3, 3), np.float32)
    g.tensors["c"] = TensorType((2, 3))
    g.replace(Node("n", "Gemm", ("x", "b", "c"), ("y",), {"beta": 2.0}, opset=17))
    assert ops.unsupported_reason(g.node("n"), g) == "beta != 1 needs a constant C"


def test_pre_passes_are_in_the_pass_list():
    names = [name for name, _ in driver.PASSES]
    assert names[:3] == ["expose_constants", "constant_dropout_masks", "check_supported"]
