"""Vision models of the corpus in plain torch: a YOLO-style detector with its anchor
arithmetic, MobileNetV3 (hard-swish, squeeze-excite), EfficientNet (SiLU, squeeze-excite),
ConvNeXt, a ViT and a CRNN text recogniser (bidirectional LSTM). Small widths and inputs: the
shapes and op patterns of the real networks, not their sizes."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


def conv_bn(cin, cout, k=3, s=1, groups=1, act: type[nn.Module] | None = nn.ReLU):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# --- YOLO-style detector -------------------------------------------------------------------------
class Detect(nn.Module):
    """A YOLOv5-style head: per level a 1x1 conv to (anchors x (5 + classes)), decoded with the
    grid and anchor arithmetic the exporters emit (Shape, Range, Expand, Concat on int64)."""

    def __init__(self, chans, classes=4, anchors=((10, 13, 16, 30), (30, 61, 62, 45))):
        super().__init__()
        self.no, self.na = classes + 5, len(anchors[0]) // 2
        self.convs = nn.ModuleList(nn.Conv2d(c, self.na * self.no, 1) for c in chans)
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32))
        self.strides = (8, 16)

    def forward(self, feats):
        out = []
        for i, x in enumerate(feats):
            x = self.convs[i](x)
            bs, _, ny, nx = x.shape
            x = x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2)
            yv, xv = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
            grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2).float()
            anchor = self.anchors[i].view(1, self.na, 1, 1, 2)
            y = x.sigmoid()
            xy = (y[..., :2] * 2 - 0.5 + grid) * self.strides[i]
            wh = (y[..., 2:4] * 2) ** 2 * anchor
            out.append(torch.cat((xy, wh, y[..., 4:]), -1).view(bs, -1, self.no))
        return torch.cat(out, 1)


class YoloDetector(nn.Module):
    def __init__(self):
        super().__init__()
        act = nn.SiLU
        self.stem = nn.Sequential(conv_bn(3, 16, 3, 2, act=act), conv_bn(16, 32, 3, 2, act=act))
        self.c3 = nn.Sequential(conv_bn(32, 32, 1, act=act), conv_bn(32, 32, 3, act=act))
        self.down1 = conv_bn(32, 64, 3, 2, act=act)
        self.down2 = conv_bn(64, 64, 3, 2, act=act)
        self.detect = Detect((64, 64))

    def forward(self, x):
        x = self.stem(x)
        x = x + self.c3(x)
        p3 = self.down1(x)
        p4 = self.down2(p3)
        return self.detect([p3, p4])


# --- MobileNetV3 ---------------------------------------------------------------------------------
class SqueezeExcite(nn.Module):
    def __init__(self, c, r=4, gate: type[nn.Module] = nn.Hardsigmoid, act=nn.ReLU):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, c // r, 1), nn.Conv2d(c // r, c, 1)
        self.act, self.gate = act(), gate()

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


class InvertedResidual(nn.Module):
    def __init__(self, cin, mid, cout, k, s, se, act, gate=nn.Hardsigmoid):
        super().__init__()
        self.use_res = s == 1 and cin == cout
        layers = [conv_bn(cin, mid, 1, act=act)] if mid != cin else []
        layers.append(conv_bn(mid, mid, k, s, groups=mid, act=act))
        if se:
            layers.append(
                SqueezeExcite(mid, gate=gate, act=nn.ReLU if gate is nn.Hardsigmoid else act)
            )
        layers.append(conv_bn(mid, cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class MobileNetV3(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        hs, re = nn.Hardswish, nn.ReLU
        self.features = nn.Sequential(
            conv_bn(3, 16, 3, 2, act=hs),
            InvertedResidual(16, 16, 16, 3, 2, True, re),
            InvertedResidual(16, 72, 24, 3, 2, False, re),
            InvertedResidual(24, 88, 24, 3, 1, False, re),
            InvertedResidual(24, 96, 40, 5, 2, True, hs),
            InvertedResidual(40, 120, 48, 5, 1, True, hs),
            conv_bn(48, 288, 1, act=hs),
        )
        self.head = nn.Sequential(nn.Linear(288, 256), nn.Hardswish(), nn.Linear(256, classes))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.head(x)


# --- EfficientNet ----------------------------------------------------------------------------------
class EfficientNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        si = nn.SiLU

        def mb(cin, cout, k, s, e):
            return InvertedResidual(cin, cin * e, cout, k, s, True, si, gate=nn.Sigmoid)

        self.features = nn.Sequential(
            conv_bn(3, 24, 3, 2, act=si),
            mb(24, 16, 3, 1, 1),
            mb(16, 24, 3, 2, 4),
            mb(24, 24, 3, 1, 4),
            mb(24, 40, 5, 2, 4),
            mb(40, 56, 3, 2, 4),
            conv_bn(56, 256, 1, act=si),
        )
        self.fc = nn.Linear(256, classes)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


# --- ConvNeXt ----------------------------------------------------------------------------------------
class ConvNeXtBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.pw1, self.pw2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 0.5))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.pw2(F.gelu(self.pw1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ChannelsFirstNorm(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    def __init__(self, classes=10, dims=(32, 64)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), ChannelsFirstNorm(dims[0], eps=1e-6))
        self.stage1 = nn.Sequential(ConvNeXtBlock(dims[0]), ConvNeXtBlock(dims[0]))
        self.down = nn.Sequential(
            ChannelsFirstNorm(dims[0], eps=1e-6), nn.Conv2d(dims[0], dims[1], 2, 2)
        )
        self.stage2 = nn.Sequential(ConvNeXtBlock(dims[1]), ConvNeXtBlock(dims[1]))
        self.norm, self.fc = nn.LayerNorm(dims[1], eps=1e-6), nn.Linear(dims[1], classes)

    def forward(self, x):
        x = self.stage2(self.down(self.stage1(self.stem(x))))
        return self.fc(self.norm(x.mean((2, 3))))


# --- ViT ------------------------------------------------------------------------------------------------
class Attention(nn.Module):
    """Multi-head self-attention. ``fused``: one qkv Linear split by ``unbind`` (timm's ViT);
    else separate q, k, v Linears (Whisper, BERT)."""

    def __init__(self, dim, heads, fused=True):
        super().__init__()
        self.heads, self.fused, self.proj = heads, fused, nn.Linear(dim, dim)
        if fused:
            self.qkv = nn.Linear(dim, 3 * dim)
        else:
            self.q, self.k, self.v = (nn.Linear(dim, dim) for _ in range(3))

    def forward(self, x, bias=None):
        b, n, c = x.shape
        h = self.heads
        if self.fused:
            qkv = self.qkv(x).reshape(b, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
        else:
            q, k, v = (
                f(x).reshape(b, n, h, c // h).transpose(1, 2) for f in (self.q, self.k, self.v)
            )
        att = (q @ k.transpose(-2, -1)) * (c // h) ** -0.5
        if bias is not None:
            att = att + bias
        out = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, mlp=4, fused=True):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.att = Attention(dim, heads, fused)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp * dim), nn.GELU(), nn.Linear(mlp * dim, dim))

    def forward(self, x, bias=None):
        x = x + self.att(self.n1(x), bias)
        return x + self.mlp(self.n2(x))


class ViT(nn.Module):
    def __init__(self, image=32, patch=8, dim=64, depth=2, heads=4, classes=10):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(EncoderBlock(dim, heads) for _ in range(depth))
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


# --- CRNN text recogniser --------------------------------------------------------------------------
class CRNN(nn.Module):
    """Conv features of a 32 x W text line, columns as time steps, a bidirectional LSTM, per
    column class logits (CTC decoding happens outside the model)."""

    def __init__(self, classes=37, hidden=48):
        super().__init__()
        self.cnn = nn.Sequential(
            conv_bn(1, 16),
            nn.MaxPool2d(2, 2),
            conv_bn(16, 32),
            nn.MaxPool2d(2, 2),
            conv_bn(32, 48),
            nn.MaxPool2d((2, 1), (2, 1)),
            conv_bn(48, 64),
            nn.MaxPool2d((4, 1), (4, 1)),
        )
        self.rnn = nn.LSTM(64, hidden, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        f = self.cnn(x).squeeze(2).permute(2, 0, 1)  # [T, B, C]
        y, _ = self.rnn(f)
        return self.fc(y)
