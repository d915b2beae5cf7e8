"""Layers written in the ONNX ops the compiler supports, on top of GraphBuilder.

Each method takes the input tensor name plus the sizes it needs and returns the output
tensor name. `name` prefixes the layer's weights (HF/PyTorch style: `x.weight`, `x.bias`)
so a trained checkpoint can supply them in place of the seeded initialiser.
"""

import math

import numpy as np

from models_zoo.graph import GraphBuilder
from models_zoo.weights import CheckpointWeights, Init, SeededWeights

ATTENTION_MASK_VALUE = -30.0  # exp(-30) ~ 1e-13: masked out, yet int8 calibration keeps range


class ModelBuilder(GraphBuilder):
    def __init__(self, name: str, weights: SeededWeights | CheckpointWeights):
        super().__init__(name)
        self.weights = weights

    def weight(self, name: str, shape: tuple, init: Init, linear: bool = False) -> str:
        return self.param(name, self.weights.get(name, shape, init, linear))

    # ----- convolution and normalisation ----------------------------------------
    def conv(
        self, x, name, cin, cout, k, stride=1, groups=1, dilation=1, ndim=2, bias=True, pad=None
    ):
        """N-d convolution, 'same' padding for odd k unless `pad` is given; He init."""
        fan_in = cin // groups * k**ndim
        inputs = [
            x,
            self.weight(f"{name}.weight", (cout, cin // groups) + (k,) * ndim, Init("he", fan_in)),
        ]
        if bias:
            inputs.append(self.weight(f"{name}.bias", (cout,), Init("zeros")))
        pad = dilation * (k - 1) // 2 if pad is None else pad
        attrs = dict(kernel_shape=[k] * ndim, strides=[stride] * ndim, pads=[pad] * 2 * ndim)
        return self.op("Conv", inputs, group=groups, dilations=[dilation] * ndim, **attrs)

    def conv_transpose(self, x, name, cin, cout, k, stride):
        w = self.weight(f"{name}.weight", (cin, cout, k, k), Init("he", cin * k * k // stride**2))
        b = self.weight(f"{name}.bias", (cout,), Init("zeros"))
        return self.op("ConvTranspose", [x, w, b], kernel_shape=[k, k], strides=[stride, stride])

    def batchnorm(self, x, name, c, gamma=1.0):
        """Inference BatchNormalization with plausible trained statistics."""
        init = Init("uniform", scale=0.2)
        scale = self.param(f"{name}.weight", gamma * self.weights.get(f"{name}.weight", (c,), init))
        bias = self.weight(f"{name}.bias", (c,), Init("normal", scale=0.05))
        mean = self.weight(f"{name}.running_mean", (c,), Init("normal", scale=0.05))
        var = self.weight(f"{name}.running_var", (c,), Init("uniform", scale=0.2))
        return self.op("BatchNormalization", [x, scale, bias, mean, var], epsilon=1e-5)

    def layernorm(self, x, name, d, eps=1e-5, affine=True):
        scale_init = Init("uniform", scale=0.1) if affine else Init("ones")
        scale = self.weight(f"{name}.weight", (d,), scale_init)
        bias = self.weight(f"{name}.bias", (d,), Init("normal", scale=0.02 if affine else 0.0))
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=eps)

    def rmsnorm(self, x, name, d, eps=1e-6):
        """x / sqrt(mean(x^2) + eps) * g, as in LLaMA."""
        mean_sq = self.op("ReduceMean", [self.op("Mul", [x, x])], axes=[-1], keepdims=1)
        rms = self.op("Sqrt", [self.op("Add", [mean_sq, self.const(eps, np.float32)])])
        scale = self.weight(f"{name}.weight", (d,), Init("uniform", scale=0.1))
        return self.op("Mul", [self.op("Div", [x, rms]), scale])

    # ----- activations ----------------------------------------------------------
    def relu(self, x):
        return self.op("Relu", [x])

    def relu6(self, x):
        return self.op("Clip", [x, self.const(0.0, np.float32), self.const(6.0, np.float32)])

    def gelu(self, x):
        """Exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)): opset 17 has no Gelu op."""
        erf = self.op("Erf", [self.op("Div", [x, self.const(math.sqrt(2.0), np.float32)])])
        half = self.op("Mul", [x, self.const(0.5, np.float32)])
        return self.op("Mul", [half, self.op("Add", [erf, self.const(1.0, np.float32)])])

    def silu(self, x):
        return self.op("Mul", [x, self.op("Sigmoid", [x])])

    # ----- dense layers ---------------------------------------------------------
    def linear(self, x, name, din, dout, bias=True, gain=1.0):
        """MatMul + Add over the last axis (any rank), Xavier init."""
        w = self.weight(f"{name}.weight", (din, dout), Init("xavier", din, dout, gain), linear=True)
        y = self.op("MatMul", [x, w])
        if not bias:
            return y
        return self.op("Add", [y, self.weight(f"{name}.bias", (dout,), Init("zeros"))])

    def gemm(self, x, name, din, dout):
        """A [1, din] -> [1, dout] fully connected layer as frameworks export it (transB)."""
        w = self.weight(f"{name}.weight", (dout, din), Init("xavier", din, dout))
        b = self.weight(f"{name}.bias", (dout,), Init("zeros"))
        return self.op("Gemm", [x, w, b], transB=1)

    # ----- shape ops ------------------------------------------------------------
    def reshape(self, x, shape):
        return self.op("Reshape", [x, self.const(shape)])

    def transpose(self, x, perm):
        return self.op("Transpose", [x], perm=perm)

    # ----- transformer blocks ---------------------------------------------------
    def attention(self, x, name, seq, d, heads, mask=None):
        """Multi-head self-attention on [1, seq, d]; `mask` is added to the scores."""
        dh = d // heads

        def split_heads(t, perm):
            return self.transpose(self.reshape(t, [1, seq, heads, dh]), perm)

        q = split_heads(self.linear(x, f"{name}.self.query", d, d), [0, 2, 1, 3])
        k = split_heads(self.linear(x, f"{name}.self.key", d, d), [0, 2, 3, 1])
        v = split_heads(self.linear(x, f"{name}.self.value", d, d), [0, 2, 1, 3])
        scores = self.op("Div", [self.op("MatMul", [q, k]), self.const(math.sqrt(dh), np.float32)])
        if mask is not None:
            scores = self.op("Add", [scores, mask])
        context = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), v])
        context = self.reshape(self.transpose(context, [0, 2, 1, 3]), [1, seq, d])
        return self.linear(context, f"{name}.output.dense", d, d)

    def causal_mask(self, seq):
        upper = np.triu(np.ones((seq, seq), dtype=np.float32), k=1)
        return self.const((upper * ATTENTION_MASK_VALUE)[None, None], np.float32)

    def mlp(self, x, name, d, hidden, act="gelu"):
        h = self.linear(x, f"{name}.intermediate.dense", d, hidden)
        h = self.gelu(h) if act == "gelu" else self.silu(h)
        return self.linear(h, f"{name}.output.dense", hidden, d)

    def residual(self, x, branch):
        return self.op("Add", [x, branch])
