"""The zoo's int8 QDQ models compiled for the `small` preset, simulated and compared with
onnxruntime (default session: QDQ fused into QLinearConv, QLinearAdd, ...) on the zoo's sample
inputs, in steps of each output's quantisation scale.

The integer layers requantise as onnxruntime's integer kernels do; where a model differs it
is through float-fallback ops (Add, pooling, Softmax, LayerNorm) whose fused onnxruntime
kernels round differently, and through the layers downstream of such a one-step difference.
resnet18 and mobilenet_v2 take about a minute each: slow tests only.
"""

import pytest

import models_zoo
from compiler.check import reference, steps_from_reference
from compiler.driver import compile
from simulator.api import run
from simulator.config import load_config

# name: (slow, max steps, min fraction exactly equal, integer layers expected)
MODELS = {
    "lenet5": (False, 0.0, 1.0, {"QConv", "QGemm"}),
    "mlp_mnist": (False, 0.0, 1.0, {"QGemm"}),
    "resnet18": (True, 1.0, 0.75, {"QConv", "QGemm"}),
    "mobilenet_v2": (True, 1.0, 0.7, {"QConv", "QGemm"}),
    # LayerNorm divides by the row's spread: one-step differences of onnxruntime's fused
    # kernels inside the encoder grow to a few steps at the output
    "bert_tiny": (False, 8.0, 0.4, {"QGemm"}),
}


def _param(name):
    return pytest.param(name, marks=[pytest.mark.slow] if MODELS[name][0] else [], id=name)


@pytest.mark.parametrize("name", [_param(n) for n in MODELS])
def test_zoo_int8_matches_onnxruntime_on_small(zoo, name):
    _, max_steps, min_exact, integer_ops = MODELS[name]
    model = zoo(name, True)
    inputs = models_zoo.sample_inputs(name)
    program = compile(model, load_config("small"))
    ops = {layer["op"] for layer in program.layers}
    assert integer_ops <= ops, f"{name}: integer layers {integer_ops} not all in {sorted(ops)}"
    outputs = run(program, inputs, checked=name in ("lenet5", "mlp_mnist")).outputs
    for s in steps_from_reference(model, outputs, reference(model, inputs)):
        assert s.max_steps <= max_steps + 1e-4, f"{name}: {s}"
        assert s.exact >= min_exact, f"{name}: {s}"


def test_bert_tiny_int8_is_bit_exact_with_the_qdq_float_semantics(zoo):
    """Without onnxruntime's QDQ fusions the reference is the graph as written: exact."""
    model = zoo("bert_tiny", True)
    inputs = models_zoo.sample_inputs("bert_tiny")
    outputs = run(compile(model, load_config("small")), inputs).outputs
    for s in steps_from_reference(model, outputs, reference(model, inputs, optimize=False)):
        assert s.max_steps <= 1e-5, s
