"""Every zoo model (float) compiled for the `small` preset, simulated, and compared with
onnxruntime on its sample inputs (rtol 1e-3, atol 1e-4). resnet50 and mobilenet_v2 take about
a minute each and run only with the slow tests (`make test-full`)."""

import pytest

import models_zoo
from compiler.check import compare_with_onnxruntime
from models_zoo import minilm
from simulator.config import load_config

SLOW = {"resnet50", "mobilenet_v2"}
# checked simulation (race detection) costs 3-10x; the op tests run it on every lowering
CHECKED = {"mlp_mnist", "lenet5", "bert_tiny"}


def _param(name):
    marks = [pytest.mark.slow] if name in SLOW else []
    if name == "minilm_l6":
        marks.append(pytest.mark.skipif(not minilm.available(), reason=minilm.INSTALL_HINT))
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_param(n) for n in models_zoo.names()])
def test_zoo_model_matches_onnxruntime_on_small(zoo, name):
    model = zoo(name)
    inputs = models_zoo.sample_inputs(name)
    errors, result = compare_with_onnxruntime(
        model, load_config("small"), inputs, checked=name in CHECKED
    )
    for e in errors:
        assert e.passed, (
            f"{name} output {e.name}: max abs {e.max_abs_error:.3g}, rel {e.max_rel_error:.3g}"
        )
    assert result.stats.macs > 0
