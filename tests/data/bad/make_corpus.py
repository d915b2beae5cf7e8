"""Regenerate the bad-input corpus in this folder (deterministic): ``python make_corpus.py``.

The files are committed; this script documents how each was made. Corrupted program files are
not stored here: they depend on the program format version, so the tests corrupt a freshly
compiled ``good.onnx`` instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).parent
SHAPE = (1, 3, 8, 8)


def model(graph: onnx.GraphProto, opsets: list | None = None) -> onnx.ModelProto:
    """IR version 8, so that onnxruntime (the oracle) loads every model too."""
    opsets = opsets or [helper.make_opsetid("", 17)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def good_model() -> onnx.ModelProto:
    """x[1,3,8,8] -> Conv(4 filters, 3x3, pad 1) -> Relu -> y: the model the npz cases feed."""
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv0", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"], name="relu0"),
    ]
    graph = helper.make_graph(
        nodes,
        "good",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, (1, 4, 8, 8))],
        [numpy_helper.from_array(w, "w")],
    )
    return model(graph)


def relu_model(shape: list, name: str) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="relu0")],
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
    )
    return model(graph)


def unknown_domain_model() -> onnx.ModelProto:
    node = helper.make_node("Frobnicate", ["x"], ["y"], name="frob0", domain="com.example.nope")
    graph = helper.make_graph(
        [node],
        "unknown_domain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example.nope", 1)]
    return model(graph, opsets)


def big_softmax_model() -> onnx.ModelProto:
    """One Softmax row of 65,536 floats (256 KiB): no tile fits a 1 KiB scratchpad."""
    shape = [1, 65536]
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["y"], name="softmax_big", axis=-1)],
        "big_softmax",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
    )
    return model(graph)


def npz_cases() -> dict[str, dict[str, np.ndarray]]:
    x = np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)
    nan = x.copy()
    nan[0, 0, 0, :4] = np.nan
    inf = x.copy()
    inf[0, 1, 2, :3] = [np.inf, -np.inf, np.inf]
    return {
        "in_missing": {},
        "in_extra": {"x": x, "z": x},
        "in_misnamed": {"input": x},
        "in_misshaped": {"x": x.reshape(1, 3, 4, 16)},
        "in_mistyped": {"x": x.astype(np.int32)},
        "in_zero_size": {"x": np.zeros((0, 3, 8, 8), np.float32)},
        "in_nan": {"x": nan},
        "in_inf": {"x": inf},
    }


TOMLS = {
    "unknown_key.toml": 'inherit = "base"\n\n[array]\nrows = 16\nwarp_drive = 9\n',
    "negative_sram.toml": 'inherit = "base"\n\n[scratchpad]\ninput_kib = -64\n',
    "tiny_sram.toml": (
        'inherit = "base"\n\n[scratchpad]\ninput_kib = 1\nweight_kib = 1\nacc_kib = 1\n'
    ),
}


def main() -> None:
    good = good_model().SerializeToString()
    (HERE / "good.onnx").write_bytes(good)
    (HERE / "empty.onnx").write_bytes(b"")
    (HERE / "text.onnx").write_text("This is a text file, not an ONNX model.\n")
    (HERE / "truncated.onnx").write_bytes(good[: len(good) // 2])
    onnx.save(unknown_domain_model(), HERE / "unknown_domain.onnx")
    onnx.save(relu_model(["N", 4], "dynamic"), HERE / "dynamic.onnx")
    onnx.save(relu_model([0, 4], "zero_dim"), HERE / "zero_dim.onnx")
    onnx.save(big_softmax_model(), HERE / "big_softmax.onnx")
    for name, arrays in npz_cases().items():
        np.savez(HERE / f"{name}.npz", **arrays)
    for name, text in TOMLS.items():
        (HERE / name).write_text(text)


if __name__ == "__main__":
    main()
