"""Convolutional vision models: the tiny ones for RTL and smoke tests, and the classics.

ResNet and MobileNetV2 follow torchvision's layer lists (ResNet v1.5: stride on the 3x3
of the bottleneck), with BatchNormalization kept unfused as frameworks export it.
The last BN of each residual branch starts with a small gamma, as trained networks do,
so activations stay in range through the residual stream.
"""

import onnx

from models_zoo.layers import ModelBuilder
from models_zoo.weights import SeededWeights

RESIDUAL_GAMMA = 0.3


def conv_bn(b: ModelBuilder, x, name, cin, cout, k, stride=1, groups=1, act="relu", gamma=1.0):
    y = b.conv(x, f"{name}.conv", cin, cout, k, stride=stride, groups=groups, bias=False)
    y = b.batchnorm(y, f"{name}.bn", cout, gamma=gamma)
    if act == "relu":
        return b.relu(y)
    return b.relu6(y) if act == "relu6" else y


def classifier(b: ModelBuilder, x, cin, classes=1000):
    pooled = b.op("Flatten", [b.op("GlobalAveragePool", [x])], axis=1)
    return b.output(b.gemm(pooled, "fc", cin, classes), "logits")


def mlp_mnist() -> onnx.ModelProto:
    b = ModelBuilder("mlp_mnist", SeededWeights(seed=0))
    x = b.op("Flatten", [b.input("image", [1, 1, 28, 28])], axis=1)
    x = b.relu(b.gemm(x, "fc1", 784, 256))
    x = b.relu(b.gemm(x, "fc2", 256, 128))
    b.output(b.gemm(x, "fc3", 128, 10), "logits")
    return b.build("Three-layer perceptron on a 28x28 digit")


def lenet5() -> onnx.ModelProto:
    b = ModelBuilder("lenet5", SeededWeights(seed=0))
    x = b.input("image", [1, 1, 32, 32])
    for i, (cin, cout) in enumerate([(1, 6), (6, 16)]):
        x = b.relu(b.conv(x, f"conv{i + 1}", cin, cout, 5, pad=0))
        x = b.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("Flatten", [x], axis=1)
    x = b.relu(b.gemm(x, "fc1", 400, 120))
    x = b.relu(b.gemm(x, "fc2", 120, 84))
    b.output(b.gemm(x, "fc3", 84, 10), "logits")
    return b.build("LeNet-5 (ReLU, average pooling) on a 32x32 digit")


def resnet_stem(b: ModelBuilder):
    x = conv_bn(b, b.input("image", [1, 3, 224, 224]), "stem", 3, 64, 7, stride=2)
    return b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])


def shortcut(b: ModelBuilder, x, name, cin, cout, stride):
    if stride == 1 and cin == cout:
        return x
    return conv_bn(b, x, f"{name}.downsample", cin, cout, 1, stride=stride, act=None)


def basic_block(b: ModelBuilder, x, name, cin, cout, stride):
    y = conv_bn(b, x, f"{name}.1", cin, cout, 3, stride=stride)
    y = conv_bn(b, y, f"{name}.2", cout, cout, 3, act=None, gamma=RESIDUAL_GAMMA)
    return b.relu(b.residual(shortcut(b, x, name, cin, cout, stride), y))


def bottleneck(b: ModelBuilder, x, name, cin, cout, stride):
    mid = cout // 4
    y = conv_bn(b, x, f"{name}.1", cin, mid, 1)
    y = conv_bn(b, y, f"{name}.2", mid, mid, 3, stride=stride)
    y = conv_bn(b, y, f"{name}.3", mid, cout, 1, act=None, gamma=RESIDUAL_GAMMA)
    return b.relu(b.residual(shortcut(b, x, name, cin, cout, stride), y))


def resnet(name: str, block, depths: list[int], widths: list[int]) -> onnx.ModelProto:
    b = ModelBuilder(name, SeededWeights(seed=0))
    x, cin = resnet_stem(b), 64
    for stage, (depth, width) in enumerate(zip(depths, widths, strict=True)):
        for i in range(depth):
            stride = 2 if i == 0 and stage > 0 else 1
            x = block(b, x, f"layer{stage + 1}.{i}", cin, width, stride)
            cin = width
    classifier(b, x, cin)
    return b.build(f"{name} (torchvision layout, BatchNormalization unfused), 224x224 RGB")


def resnet18() -> onnx.ModelProto:
    return resnet("resnet18", basic_block, [2, 2, 2, 2], [64, 128, 256, 512])


def resnet50() -> onnx.ModelProto:
    return resnet("resnet50", bottleneck, [3, 4, 6, 3], [256, 512, 1024, 2048])


MOBILENET_V2_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2)]
MOBILENET_V2_STAGES += [(6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def inverted_residual(b: ModelBuilder, x, name, cin, cout, stride, expand):
    hidden = cin * expand
    y = conv_bn(b, x, f"{name}.expand", cin, hidden, 1, act="relu6") if expand != 1 else x
    y = conv_bn(b, y, f"{name}.dw", hidden, hidden, 3, stride=stride, groups=hidden, act="relu6")
    residual = stride == 1 and cin == cout
    y = conv_bn(
        b,
        y,
        f"{name}.project",
        hidden,
        cout,
        1,
        act=None,
        gamma=RESIDUAL_GAMMA if residual else 1.0,
    )
    return b.residual(x, y) if residual else y


def mobilenet_v2() -> onnx.ModelProto:
    b = ModelBuilder("mobilenet_v2", SeededWeights(seed=0))
    x = conv_bn(b, b.input("image", [1, 3, 224, 224]), "stem", 3, 32, 3, stride=2, act="relu6")
    cin = 32
    for stage, (expand, cout, repeats, stride) in enumerate(MOBILENET_V2_STAGES):
        for i in range(repeats):
            x = inverted_residual(
                b, x, f"block{stage}.{i}", cin, cout, stride if i == 0 else 1, expand
            )
            cin = cout
    x = conv_bn(b, x, "head", cin, 1280, 1, act="relu6")
    classifier(b, x, 1280)
    return b.build("MobileNetV2 1.0 (torchvision layout), 224x224 RGB")
