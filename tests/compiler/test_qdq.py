"""int8 QDQ models (onnxruntime quantize_static, as the zoo makes them): each op alone and in
blocks, compiled, simulated (checked) and compared with onnxruntime in output steps."""

import numpy as np
import pytest
from compiler_helpers import model, rand
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from qdq_helpers import check_int8, quantize

import compiler
from compiler.frontend import import_model
from compiler.passes import fusion, qdq, qdq_match
from simulator.config import load_config
from simulator.errors import UnsupportedOpError

H = helper.make_node


def conv_node(x, y, w, b, stride=1, pads=(0, 0, 0, 0), group=1):
    return H("Conv", [x, w, b], [y], strides=[stride] * 2, pads=list(pads), group=group)


def conv_out(hw, k, stride, pads):
    oh = (hw[0] + pads[0] + pads[2] - k) // stride + 1
    ow = (hw[1] + pads[1] + pads[3] - k) // stride + 1
    return oh, ow


def conv_inits(name, cin, cout, k, group=1, seed=1):
    return {
        f"{name}w": rand(cout, cin // group, k, k, seed=seed),
        f"{name}b": rand(cout, seed=seed),
    }


def qconv_model(cin, cout, hw, k, stride=1, pads=(0, 0, 0, 0), batch=1, act=None, group=1):
    oh, ow = conv_out(hw, k, stride, pads)
    nodes = [conv_node("x", "c" if act else "y", "w", "b", stride, pads, group)]
    if act == "Relu6":
        nodes.append(H("Clip", ["c", "lo", "hi"], ["y"]))
    elif act:
        nodes.append(H(act, ["c"], ["y"]))
    inits = {"w": rand(cout, cin // group, k, k, seed=1), "b": rand(cout, seed=2)}
    if act == "Relu6":
        inits |= {"lo": np.float32(0), "hi": np.float32(6)}
    m = model(nodes, {"x": [batch, cin, *hw]}, {"y": [batch, cout, oh, ow]}, inits)
    return quantize(m), {"x": rand(batch, cin, *hw, seed=3)}


def test_conv_is_integer_and_exact():
    m, inputs = qconv_model(5, 7, (6, 7), 3, pads=(1, 1, 1, 1))
    check_int8(m, inputs, min_exact=0.98, ops={"QConv"})


@pytest.mark.parametrize("act", [None, "Relu", "Relu6"])
def test_conv_stride2_asymmetric_pads_batch2(act):
    m, inputs = qconv_model(3, 10, (9, 8), 3, 2, (0, 1, 1, 0), batch=2, act=act)
    check_int8(m, inputs, min_exact=0.98, ops={"QConv"})


def test_conv_channels_wider_than_the_array():
    m, inputs = qconv_model(19, 37, (5, 5), 1)
    check_int8(m, inputs, preset="tiny", min_exact=0.98, ops={"QConv"})


def test_conv1d_dilated():
    nodes = [H("Conv", ["x", "w", "b"], ["y"], dilations=[2], pads=[2, 1])]
    inits = {"w": rand(6, 5, 3, seed=1), "b": rand(6, seed=2)}
    m = quantize(model(nodes, {"x": [2, 5, 11]}, {"y": [2, 6, 10]}, inits))
    check_int8(m, {"x": rand(2, 5, 11, seed=3)}, min_exact=0.98, ops={"QConv"})


def test_depthwise_separable_block():
    c, hw = 6, (7, 7)
    nodes = [
        conv_node("x", "d", "dww", "dwb", 1, (1, 1, 1, 1), group=c),
        H("Clip", ["d", "lo", "hi"], ["r"]),
        conv_node("r", "p", "pww", "pwb"),
        H("Relu", ["p"], ["y"]),
    ]
    inits = conv_inits("dw", c, c, 3, group=c) | conv_inits("pw", c, 11, 1, seed=4)
    inits |= {"lo": np.float32(0), "hi": np.float32(6)}
    m = quantize(model(nodes, {"x": [1, c, *hw]}, {"y": [1, 11, *hw]}, inits))
    check_int8(m, {"x": rand(1, c, *hw, seed=5)}, min_exact=0.95, ops={"QConv"})


def test_residual_block():
    c, hw = 8, (6, 5)
    nodes = [
        conv_node("x", "a", "c1w", "c1b", 1, (1, 1, 1, 1)),
        H("Relu", ["a"], ["r"]),
        conv_node("r", "b", "c2w", "c2b", 1, (1, 1, 1, 1)),
        H("Add", ["b", "x"], ["s"]),
        H("Relu", ["s"], ["y"]),
    ]
    inits = conv_inits("c1", c, c, 3) | conv_inits("c2", c, c, 3, seed=2)
    m = quantize(model(nodes, {"x": [2, c, *hw]}, {"y": [2, c, *hw]}, inits))
    check_int8(m, {"x": rand(2, c, *hw, seed=5)}, min_exact=0.98, ops={"QConv"})  # QAdd fused


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pooling_after_conv(op):
    nodes = [
        conv_node("x", "c", "w", "b", 1, (1, 1, 1, 1)),
        H(op, ["c"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1]),
    ]
    m = model(nodes, {"x": [1, 4, 9, 8]}, {"y": [1, 6, 4, 4]}, conv_inits("", 4, 6, 3))
    # both on int8 tensors; AveragePool in fp32 as onnxruntime's QLinearAveragePool
    m = quantize(m)
    check_int8(m, {"x": rand(1, 4, 9, 8, seed=5)}, max_steps=0.0, ops={"QConv", op})
    (pool,) = [n for n in lowered_ir(m).nodes() if n.op == op]
    assert lowered_ir(m).type(pool.inputs[0]).dtype == "int8"


def test_classifier_head():
    nodes = [
        conv_node("x", "c", "cw", "cb", 2, (1, 1, 1, 1)),
        H("Relu", ["c"], ["r"]),
        H("GlobalAveragePool", ["r"], ["g"]),
        H("Flatten", ["g"], ["f"]),
        H("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    inits = conv_inits("c", 3, 12, 3) | {"fw": rand(10, 12, seed=7), "fb": rand(10, seed=8)}
    m = quantize(model(nodes, {"x": [2, 3, 11, 11]}, {"y": [2, 10]}, inits))
    check_int8(m, {"x": rand(2, 3, 11, 11, seed=5)}, min_exact=0.9, ops={"QConv", "QGemm"})


def test_matmul_rank3_const_weights():
    nodes = [H("MatMul", ["x", "w"], ["m"]), H("Add", ["m", "b"], ["y"])]
    inits = {"w": rand(13, 17, seed=1), "b": rand(17, seed=2)}
    m = quantize(model(nodes, {"x": [2, 5, 13]}, {"y": [2, 5, 17]}, inits))
    check_int8(m, {"x": rand(2, 5, 13, seed=3)}, min_exact=0.95, ops={"QGemm"})


def test_attention_block():
    s, d = 6, 8
    nodes = [
        H("MatMul", ["x", "wq"], ["q"]),
        H("MatMul", ["x", "wk"], ["k"]),
        H("MatMul", ["x", "wv"], ["v"]),
        H("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        H("MatMul", ["q", "kt"], ["a"]),
        H("Mul", ["a", "scale"], ["as"]),
        H("Softmax", ["as"], ["p"], axis=-1),
        H("MatMul", ["p", "v"], ["o"]),
        H("Reshape", ["o", "shape2"], ["o2"]),
        H("Gemm", ["o2", "wo", "bo"], ["y2"], transB=1),
        H("Reshape", ["y2", "shape3"], ["y"]),
    ]
    inits = {f"w{c}": rand(d, d, seed=i) for i, c in enumerate("qkv")}
    inits |= {"wo": rand(d, d, seed=5), "bo": rand(d, seed=6), "scale": np.float32(d**-0.5)}
    inits |= {"shape2": np.array([-1, d]), "shape3": np.array([2, s, d])}
    m = quantize(model(nodes, {"x": [2, s, d]}, {"y": [2, s, d]}, inits))
    # Q.K^T and P.V are integer (QMatMul), the Softmax on int8 as QLinearSoftmax; the Mul
    # runs in float as written (onnxruntime's QLinearMul rounds its own way)
    check_int8(m, {"x": rand(2, s, d, seed=3)}, min_exact=0.7, ops={"QGemm", "QMatMul"})


def test_transpose_and_reshape_move_int8_directly():
    nodes = [
        conv_node("x", "c", "w", "b", 1, (1, 1, 1, 1)),
        H("Transpose", ["c"], ["t"], perm=[0, 2, 3, 1]),
        H("Reshape", ["t", "shape"], ["r"]),
        H("MatMul", ["r", "mw"], ["y"]),
    ]
    inits = conv_inits("", 3, 6, 3) | {"shape": np.array([-1, 6]), "mw": rand(6, 5, seed=9)}
    m = quantize(model(nodes, {"x": [2, 3, 4, 5]}, {"y": [40, 5]}, inits))
    graph = lowered_ir(m)
    moves = [n for n in graph.nodes() if n.op in ("Transpose", "Reshape")]
    assert [graph.type(n.inputs[0]).dtype for n in moves] == ["int8", "int8"]
    check_int8(m, {"x": rand(2, 3, 4, 5, seed=4)}, min_exact=0.98, ops={"QConv", "QGemm"})


def test_concat_of_differently_scaled_branches():
    nodes = [
        conv_node("x", "a", "aw", "ab", 1, (1, 1, 1, 1)),
        conv_node("x", "b", "bw", "bb"),
        H("Concat", ["a", "b"], ["c"], axis=1),
        conv_node("c", "y", "cw", "cb"),
    ]
    inits = conv_inits("a", 4, 5, 3) | conv_inits("b", 4, 3, 1, seed=2)
    inits |= {"bw": inits["bw"] * 4} | conv_inits("c", 8, 6, 1, seed=3)
    m = quantize(model(nodes, {"x": [1, 4, 6, 7]}, {"y": [1, 6, 6, 7]}, inits))
    check_int8(m, {"x": rand(1, 4, 6, 7, seed=4)}, min_exact=0.95, ops={"QConv", "Concat"})


# --- standalone QuantizeLinear / DequantizeLinear ------------------------------------------
def qdq_model(nodes, inputs, outputs, inits):
    vin = [helper.make_tensor_value_info(n, t, s) for n, (t, s) in inputs.items()]
    vout = [helper.make_tensor_value_info(n, t, s) for n, (t, s) in outputs.items()]
    inits = [numpy_helper.from_array(np.asarray(a), n) for n, a in inits.items()]
    g = helper.make_graph(nodes, "qdq", vin, vout, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_standalone_quantize_and_dequantize(dtype):
    onnx_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    zp = np.array(3 if dtype == np.int8 else 130, dtype)
    nodes = [
        H("QuantizeLinear", ["x", "s", "zp"], ["q"]),
        H("DequantizeLinear", ["q", "s", "zp"], ["y"]),
    ]
    m = qdq_model(
        nodes,
        {"x": (TensorProto.FLOAT, [3, 37])},
        {"q": (onnx_type, [3, 37]), "y": (TensorProto.FLOAT, [3, 37])},
        {"s": np.float32(0.02), "zp": zp},
    )
    x = rand(3, 37, seed=1) * 2
    x[0, :4] = [0.01, 0.03, -0.05, 100.0]  # ties round to even; saturation
    check_int8(m, {"x": x}, max_steps=0.0, ops={"QuantizeLinear", "DequantizeLinear"})


def test_int8_graph_input_dequantized():
    m = qdq_model(
        [H("DequantizeLinear", ["q", "s", "zp"], ["d"]), H("Relu", ["d"], ["y"])],
        {"q": (TensorProto.INT8, [4, 9])},
        {"y": (TensorProto.FLOAT, [4, 9])},
        {"s": np.float32(0.1), "zp": np.int8(-7)},
    )
    q = np.arange(-128, 127, 7, dtype=np.int8)[:36].reshape(4, 9)
    check_int8(m, {"q": q}, max_steps=0.0)


def test_uint8_activations_become_int8():
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from models_zoo.quantize import SampleReader, random_inputs

    f = model([conv_node("x", "y", "w", "b")], {"x": [1, 3, 5, 5]}, {"y": [1, 4, 3, 3]})
    f.graph.initializer.extend(
        numpy_helper.from_array(a, n) for n, a in conv_inits("", 3, 4, 3).items()
    )
    import tempfile
    from pathlib import Path

    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "f.onnx", Path(tmp) / "q.onnx"
        onnx.save(f, src)
        samples = random_inputs(f, np.random.default_rng(0), 4)
        quantize_static(
            src,
            dst,
            SampleReader(samples),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        m = onnx.load(dst)
    check_int8(m, {"x": rand(1, 3, 5, 5, seed=4)}, min_exact=0.98, ops={"QConv"})


def test_quantize_to_int16_is_rejected_naming_the_tensor():
    m = qdq_model(
        [H("QuantizeLinear", ["x", "s", "zp"], ["q"])],
        {"x": (TensorProto.FLOAT, [2, 3])},
        {"q": (TensorProto.INT16, [2, 3])},
        {"s": np.float32(0.1), "zp": np.int16(0)},
    )
    with pytest.raises(UnsupportedOpError, match=r"'q' has dtype int16"):
        compiler.compile(m, load_config("tiny"))


def test_per_axis_quantize_of_an_activation_is_rejected():
    m = qdq_model(
        [H("QuantizeLinear", ["x", "s", "zp"], ["q"], axis=1)],
        {"x": (TensorProto.FLOAT, [2, 3])},
        {"q": (TensorProto.INT8, [2, 3])},
        {"s": np.full(3, 0.1, np.float32), "zp": np.zeros(3, np.int8)},
    )
    with pytest.raises(UnsupportedOpError, match="per-axis"):
        compiler.compile(m, load_config("tiny"))


# --- the pass itself ---------------------------------------------------------------------
def lowered_ir(m):
    graph = import_model(m)
    fusion.remove_identity(graph)
    qdq.lower_qdq(graph)
    return graph


def test_pass_folds_zero_point_and_relu_into_the_integer_conv():
    m, _ = qconv_model(3, 4, (5, 5), 3, act="Relu")
    graph = lowered_ir(m)
    (conv,) = [n for n in graph.nodes() if n.op == "QConv"]
    yq = graph.tensors[conv.outputs[0]].quant
    assert conv.attr("clamp") == (max(-128, yq.zero_point), 127)
    assert graph.constants[conv.inputs[1]].dtype == np.int8
    assert graph.constants[conv.inputs[2]].dtype == np.int32
    assert [n.op for n in graph.nodes()] == ["QuantizeLinear", "QConv", "DequantizeLinear"]


def test_clamp_range_is_the_quantised_activation_bounds():
    q = qdq_match.Quant(0.05, -10, "int8")
    assert qdq_match.clamp_range(q, (0.0, 6.0)) == (-10, 110)
    assert qdq_match.clamp_range(q, (-np.inf, np.inf)) == (-128, 127)
    assert qdq_match.clamp_range(q, (0.0, 100.0)) == (-10, 127)


# --- properties ----------------------------------------------------------------------------
@settings(max_examples=8, deadline=None)
@given(
    cin=st.integers(1, 9),
    cout=st.integers(1, 9),
    hw=st.integers(3, 8),
    k=st.sampled_from([1, 3]),
    stride=st.integers(1, 2),
    pad=st.integers(0, 1),
    batch=st.integers(1, 2),
)
def test_property_int8_conv(cin, cout, hw, k, stride, pad, batch):
    if hw + 2 * pad < k:
        return
    m, inputs = qconv_model(cin, cout, (hw, hw + 1), k, stride, (pad, 0, pad, pad), batch)
    check_int8(m, inputs, min_exact=0.9, ops={"QConv"})


@settings(max_examples=8, deadline=None)
@given(m_=st.integers(1, 11), k=st.integers(1, 20), n=st.integers(1, 20))
def test_property_int8_matmul(m_, k, n):
    nodes = [H("MatMul", ["x", "w"], ["y"])]
    m = quantize(model(nodes, {"x": [m_, k]}, {"y": [m_, n]}, {"w": rand(k, n, seed=1)}))
    check_int8(m, {"x": rand(m_, k, seed=2)}, min_exact=0.9, ops={"QGemm"})
