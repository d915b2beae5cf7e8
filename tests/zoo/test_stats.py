"""MAC and parameter counts: against the published architectures, and by hand."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models_zoo.stats import count_params, model_stats

# torchvision's published figures: (GMACs, millions of parameters)
PUBLISHED = {
    "resnet18": (1.814, 11.690),
    "resnet50": (4.089, 25.557),
    "mobilenet_v2": (0.301, 3.505),
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_counts_match_published_architectures(zoo, name):
    stats = model_stats(zoo(name, False))
    gmacs, mparams = PUBLISHED[name]
    assert stats.macs / 1e9 == pytest.approx(gmacs, rel=0.005)
    assert stats.params / 1e6 == pytest.approx(mparams, rel=0.001)


def test_int8_variant_keeps_macs_and_weights(zoo):
    float_stats, int8_stats = (
        model_stats(zoo("resnet18", False)),
        model_stats(zoo("resnet18", True)),
    )
    assert int8_stats.macs == float_stats.macs
    # BatchNorm is folded: conv biases replace BN's gamma and beta (half as many values)
    assert int8_stats.params == pytest.approx(float_stats.params, rel=1e-3)


def weights(name, shape):
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def one_node_model(node, inputs, output_shape, inits):
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, output_shape)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_grouped_strided_conv_macs():
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=4, strides=[2, 2], pads=[1, 1, 1, 1])
    model = one_node_model(
        node, [("x", [1, 8, 16, 16])], [1, 12, 8, 8], [weights("w", [12, 2, 3, 3])]
    )
    assert model_stats(model).macs == 12 * 8 * 8 * 2 * 3 * 3


def test_conv_transpose_macs_count_every_input_pixel():
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2])
    model = one_node_model(
        node, [("x", [1, 4, 5, 5])], [1, 6, 10, 10], [weights("w", [4, 6, 2, 2])]
    )
    assert model_stats(model).macs == 4 * 5 * 5 * 6 * 2 * 2


def test_batched_matmul_and_transposed_gemm_macs():
    matmul = helper.make_node("MatMul", ["a", "b"], ["y"])
    model = one_node_model(matmul, [("a", [2, 3, 5, 7]), ("b", [2, 3, 7, 11])], [2, 3, 5, 11], [])
    assert model_stats(model).macs == 2 * 3 * 5 * 7 * 11
    gemm = helper.make_node("Gemm", ["a", "w"], ["y"], transA=1, transB=1)
    model = one_node_model(gemm, [("a", [9, 2])], [2, 4], [weights("w", [4, 9])])
    assert model_stats(model).macs == 2 * 4 * 9


def test_params_skip_batchnorm_statistics_and_constants():
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])
    inits = [weights(n, [3]) for n in "sbmv"] + [weights("const_1", [100])]
    model = one_node_model(node, [("x", [1, 3, 4, 4])], [1, 3, 4, 4], inits)
    onnx.checker.check_model(model)
    assert count_params(model) == 6
