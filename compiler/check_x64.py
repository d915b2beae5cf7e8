"""What makes onnxruntime's int8 results the same on every x86 CPU, for the oracle.

onnxruntime runs a QDQ model's Conv, Gemm and MatMul on its integer kernels after turning
int8 activations into uint8 (QDQS8ToU8Transformer). With int8 weights that is its u8 x s8
GEMM, which on AVX2 and on AVX-512 without VNNI sums pairs of products with VPMADDUBSW,
saturating at int16 (255 x 127 x 2 > 32,767): its QGemm and QLinearConv are then off by
several steps there and exact on VNNI CPUs. With uint8 weights it runs u8 x u8, in int32, on
every CPU, as the NPU does. ``u8_gemm_weights`` hands it the weights that can saturate (some
|w| > 64) as uint8, w + 128 with zero point + 128: the same values once dequantised; a weight
made by a QuantizeLinear of constants is folded first. onnxruntime's own switch for this
(``session.x64quantprecision``) also turns the constants of element-wise ops into uint8, so
it fuses Mul, Add and friends that it otherwise runs in float, and its converter fails
("Attempt to replace the existing tensor") when two Q/DQ nodes share an initializer.
``unshared_qdq``, run first, gives every Q/DQ node its own initializers and every consumer
of a DequantizeLinear its own node, so a converted weight changes no other reader.
"""

from __future__ import annotations

import collections

import numpy as np
import onnx
from onnx import numpy_helper

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def has_qdq(model: onnx.ModelProto) -> bool:
    return any(n.op_type in QDQ_OPS for n in model.graph.node)


def unshared_qdq(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose Q/DQ nodes share no initializer and whose DequantizeLinear
    outputs each feed one node (or are one graph output)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    inits = {t.name: t for t in g.initializer}
    copies = collections.Counter()

    def fresh(name: str) -> str:
        if name not in inits:
            return name
        copies[name] += 1
        t = onnx.TensorProto()
        t.CopyFrom(inits[name])
        t.name = f"{name}__npu{copies[name]}"
        g.initializer.append(t)
        return t.name

    nodes = _one_consumer_each(g, fresh)
    seen = collections.Counter()
    for n in nodes:
        if n.op_type in QDQ_OPS:
            for j, name in enumerate(n.input):
                seen[name] += 1
                if name in inits and seen[name] > 1:
                    n.input[j] = fresh(name)
    del g.node[:]
    g.node.extend(nodes)
    return out


def _one_consumer_each(g, fresh) -> list:
    """The nodes with a copy of each DequantizeLinear (and its initializers) per consumer."""
    users = collections.defaultdict(list)
    for n in g.node:
        for j, name in enumerate(n.input):
            users[name].append((n, j))
    outputs = {o.name for o in g.output}
    nodes = []
    for n in g.node:
        nodes.append(n)
        if n.op_type != "DequantizeLinear":
            continue
        rest = users[n.output[0]] if n.output[0] in outputs else users[n.output[0]][1:]
        for k, (user, j) in enumerate(rest, 1):
            d = onnx.NodeProto()
            d.CopyFrom(n)
            d.name = f"{n.name}__npu{k}"
            d.output[0] = f"{n.output[0]}__npu{k}"
            d.input[:] = [fresh(name) for name in d.input]
            user.input[j] = d.output[0]
            nodes.append(d)
    return nodes


GEMM_OPS = ("Conv", "MatMul", "Gemm", "ConvTranspose")  # the weight is input 1 of each


def u8_gemm_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """``unshared_qdq(model)`` with the int8 weights of Conv, ConvTranspose, MatMul and Gemm
    that reach beyond [-64, 64] stored as uint8 (w + 128, zero point + 128: the same values
    dequantised), so onnxruntime multiplies them as u8 x u8 (int32 sums) on every x86 CPU;
    other constants stay int8, so the ops it fuses are those of the model as given."""
    out = unshared_qdq(model)
    g = out.graph
    inits = {t.name: t for t in g.initializer}
    weight_of = {n.input[1] for n in g.node if n.op_type in GEMM_OPS and len(n.input) > 1}
    for n in g.node:
        if n.op_type != "DequantizeLinear" or n.output[0] not in weight_of:
            continue
        w = inits.get(n.input[0]) or _fold_quantize(g, inits, n.input[0])
        if w is None or w.data_type != onnx.TensorProto.INT8 or n.input[1] not in inits:
            continue
        wv = numpy_helper.to_array(w)
        if np.abs(wv.astype(np.int16)).max() <= 64:
            continue
        if len(n.input) < 3 or not n.input[2]:  # the default zero point, 0, made explicit
            scale = numpy_helper.to_array(inits[n.input[1]])
            zp = g.initializer.add()
            zp.CopyFrom(
                numpy_helper.from_array(np.zeros(scale.shape, np.int8), f"{w.name}__npu_zp")
            )
            n.input[2:] = [zp.name]
        zp = inits.get(n.input[2]) or next(t for t in g.initializer if t.name == n.input[2])
        w.CopyFrom(numpy_helper.from_array((wv.astype(np.int16) + 128).astype(np.uint8), w.name))
        n.input[0] = w.name
        zv = numpy_helper.to_array(zp).astype(np.int16) + 128
        zp.CopyFrom(numpy_helper.from_array(zv.astype(np.uint8), zp.name))
    return out


def _fold_quantize(g, inits: dict, name: str):
    """The int8 initializer a QuantizeLinear of constants computes (added to the graph under a
    new name; the QuantizeLinear stays for its other readers), or None."""
    q = next((n for n in g.node if n.op_type == "QuantizeLinear" and n.output[0] == name), None)
    if q is None or len(q.input) < 3 or not all(i in inits for i in q.input):
        return None
    x, scale, zp = (numpy_helper.to_array(inits[i]) for i in q.input)
    if zp.dtype != np.int8:
        return None
    axis = next((a.i for a in q.attribute if a.name == "axis"), 1)
    if scale.ndim == 1 and x.ndim:
        shape = [1] * x.ndim
        shape[axis % x.ndim] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    with np.errstate(all="ignore"):
        v = np.rint(x.astype(np.float32) / scale.astype(np.float32)) + zp.astype(np.float32)
    t = g.initializer.add()  # the graph's own message (append would store a copy)
    t.CopyFrom(numpy_helper.from_array(np.clip(v, -128, 127).astype(np.int8), f"{name}__npu_q"))
    inits[t.name] = t
    return t
