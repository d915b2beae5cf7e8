"""A small U-Net: two down steps (MaxPool), two up steps, skip connections by Concat.

The first up step uses Resize (nearest), the second a ConvTranspose, so both upsampling
paths the compiler must handle appear in one model.
"""

import numpy as np
import onnx

from models_zoo.layers import ModelBuilder
from models_zoo.weights import SeededWeights


def double_conv(b: ModelBuilder, x, name, cin, cout):
    x = b.relu(b.conv(x, f"{name}.conv1", cin, cout, 3))
    return b.relu(b.conv(x, f"{name}.conv2", cout, cout, 3))


def downsample(b: ModelBuilder, x):
    return b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])


def upsample_nearest(b: ModelBuilder, x):
    scales = b.const([1.0, 1.0, 2.0, 2.0], np.float32)
    return b.op(
        "Resize",
        [x, "", scales],
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )


def unet_small(size=64, channels=3, width=32) -> onnx.ModelProto:
    b = ModelBuilder("unet_small", SeededWeights(seed=0))
    x = b.input("image", [1, channels, size, size])
    enc1 = double_conv(b, x, "down1", channels, width)
    enc2 = double_conv(b, downsample(b, enc1), "down2", width, 2 * width)
    mid = double_conv(b, downsample(b, enc2), "mid", 2 * width, 4 * width)
    up2 = b.op("Concat", [upsample_nearest(b, mid), enc2], axis=1)
    dec2 = double_conv(b, up2, "up2", 6 * width, 2 * width)
    up1 = b.conv_transpose(dec2, "up1.upsample", 2 * width, width, 2, stride=2)
    dec1 = double_conv(b, b.op("Concat", [up1, enc1], axis=1), "up1", 2 * width, width)
    b.output(b.conv(dec1, "head", width, channels, 1), "prediction")
    return b.build("U-Net, 64x64 RGB: MaxPool down, Resize and ConvTranspose up, Concat skips")
