"""int8 variants: onnxruntime's static QDQ quantization with seeded calibration data.

Per-channel int8 weights, int8 activations, MinMax calibration, after onnxruntime's
`quant_pre_process` (shape inference and graph optimisation, which folds BatchNorm into
Conv as any deployment flow does). This is the path users take in practice.
"""

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

CALIBRATION_SAMPLES = 4
CALIBRATION_SEED = 1234


class SampleReader(CalibrationDataReader):
    def __init__(self, samples: list[dict[str, np.ndarray]]):
        self._samples = iter(samples)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._samples, None)


def random_inputs(model: onnx.ModelProto, rng: np.random.Generator, count: int) -> list[dict]:
    """Standard-normal float32 inputs: what normalised images or embeddings look like."""
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.input
    }
    return [
        {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}
        for _ in range(count)
    ]


def quantize_int8(model: onnx.ModelProto, samples: list[dict[str, np.ndarray]]) -> onnx.ModelProto:
    with tempfile.TemporaryDirectory(prefix="npu-zoo-quant-") as tmp:
        float_path, prepared, quantized = (
            Path(tmp) / n for n in ("float.onnx", "pre.onnx", "int8.onnx")
        )
        onnx.save(model, float_path)
        quant_pre_process(float_path, prepared, skip_symbolic_shape=True)
        quantize_static(
            prepared,
            quantized,
            SampleReader(samples),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        result = onnx.load(quantized)
    result.graph.name = f"{model.graph.name}_int8"
    result.doc_string = f"{model.doc_string} [int8 QDQ, per-channel weights]"
    return result


def quantize_weights_nbits(model: onnx.ModelProto, bits: int = 4, block: int = 32):
    """Weight-only quantisation by onnxruntime's own ``MatMulNBitsQuantizer``: every MatMul
    whose B is a constant matrix becomes ``com.microsoft`` ``MatMulNBits`` (``bits``-bit
    codes, a scale and a zero point per block of ``block`` along K); activations stay float."""
    import logging

    from onnxruntime.quantization import matmul_nbits_quantizer as nbits

    logging.getLogger(nbits.__name__).setLevel(logging.WARNING)  # it logs every node at INFO
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    q = nbits.MatMulNBitsQuantizer(copy, bits=bits, block_size=block, is_symmetric=False)
    q.process()
    return q.model.model
