"""Sequence models of the corpus in plain torch: a byte-level text classifier (raw bytes, no
tokenizer), a temporal convolutional network forecasting sensor channels, and a Conformer
speech encoder."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from models_zoo.corpus.vision import Attention


class ByteClassifier(nn.Module):
    """A byte-level text classifier: byte values [B, L] (int64, 0-255) -> embedding (Gather) ->
    Conv1d + ReLU, a dilated Conv1d + ReLU -> max over time (ReduceMax) -> Linear."""

    def __init__(self, dim=32, hidden=64, classes=4):
        super().__init__()
        self.emb = nn.Embedding(256, dim)
        self.c1 = nn.Conv1d(dim, hidden, 5, padding=2)
        self.c2 = nn.Conv1d(hidden, hidden, 3, padding=2, dilation=2)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, ids):
        x = self.emb(ids).transpose(1, 2)
        x = torch.relu(self.c2(torch.relu(self.c1(x))))
        return self.fc(x.amax(-1))


class TcnBlock(nn.Module):
    """Two causal dilated Conv1d (left padding by F.pad) with ReLU, plus a 1x1 skip."""

    def __init__(self, cin, cout, k, dilation):
        super().__init__()
        self.pad = (k - 1) * dilation
        self.c1 = nn.Conv1d(cin, cout, k, dilation=dilation)
        self.c2 = nn.Conv1d(cout, cout, k, dilation=dilation)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        y = torch.relu(self.c1(F.pad(x, (self.pad, 0))))
        y = torch.relu(self.c2(F.pad(y, (self.pad, 0))))
        return torch.relu(y + self.skip(x))


class TcnForecaster(nn.Module):
    """A temporal convolutional network (Bai et al., 2018) over sensor channels [B, C, T]:
    residual blocks with dilations 1, 2, 4, then the next step of every channel from the last
    time step's features."""

    def __init__(self, channels=8, hidden=32, levels=3, k=3):
        super().__init__()
        dims = [channels] + [hidden] * levels
        self.blocks = nn.Sequential(
            *(TcnBlock(dims[i], dims[i + 1], k, 2**i) for i in range(levels))
        )
        self.head = nn.Linear(hidden, channels)

    def forward(self, x):
        return self.head(self.blocks(x)[:, :, -1])


class ConvModule(nn.Module):
    """Conformer's convolution module: LayerNorm, pointwise Conv1d to 2x, GLU (Split, Sigmoid,
    Mul), depthwise Conv1d, BatchNorm, SiLU, pointwise Conv1d."""

    def __init__(self, dim, kernel):
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.pw1 = nn.Conv1d(dim, 2 * dim, 1)
        self.dw = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.bn = nn.BatchNorm1d(dim)
        self.pw2 = nn.Conv1d(dim, dim, 1)

    def forward(self, x):
        y = F.glu(self.pw1(self.ln(x).transpose(1, 2)), dim=1)
        return self.pw2(F.silu(self.bn(self.dw(y)))).transpose(1, 2)


def _feed_forward(dim):
    return nn.Sequential(
        nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.SiLU(), nn.Linear(4 * dim, dim)
    )


class ConformerBlock(nn.Module):
    """Half-step feed-forward, self-attention, convolution module, half-step feed-forward,
    LayerNorm (Gulati et al., 2020)."""

    def __init__(self, dim, heads, kernel):
        super().__init__()
        self.ff1, self.ff2 = _feed_forward(dim), _feed_forward(dim)
        self.ln_att, self.ln_out = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.att = Attention(dim, heads, fused=False)
        self.conv = ConvModule(dim, kernel)

    def forward(self, x):
        x = x + 0.5 * self.ff1(x)
        x = x + self.att(self.ln_att(x))
        x = x + self.conv(x)
        return self.ln_out(x + 0.5 * self.ff2(x))


class ConformerEncoder(nn.Module):
    """A Conformer speech encoder: log-mel frames [B, T, mels] -> Conv2d subsampling (two
    stride-2 3x3 + ReLU) -> Linear -> Conformer blocks."""

    def __init__(self, n_mels=40, dim=64, heads=4, depth=2, kernel=15):
        super().__init__()
        self.sub = nn.Sequential(
            nn.Conv2d(1, dim, 3, 2), nn.ReLU(), nn.Conv2d(dim, dim, 3, 2), nn.ReLU()
        )
        self.proj = nn.Linear(dim * (((n_mels - 1) // 2 - 1) // 2), dim)
        self.blocks = nn.Sequential(*(ConformerBlock(dim, heads, kernel) for _ in range(depth)))

    def forward(self, mel):
        x = self.sub(mel.unsqueeze(1))
        b, c, t, f = x.shape
        return self.blocks(self.proj(x.transpose(1, 2).reshape(b, t, c * f)))
