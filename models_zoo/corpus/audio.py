"""Audio and text models of the corpus in plain torch: a GRU speech enhancer, a DS-CNN keyword
spotter, a mel-spectrogram front end (STFT as Conv1d, Log, ReduceMax), a Whisper-style audio
encoder, a token-id text classifier (embedding Gather, attention mask) and an LSTM tagger."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from models_zoo.corpus.vision import EncoderBlock, conv_bn


class GruEnhancer(nn.Module):
    """A spectral-mask speech enhancer: magnitude frames [B, T, F] -> Linear -> 2-layer GRU ->
    Linear -> Sigmoid mask, times the input."""

    def __init__(self, bins=65, hidden=64):
        super().__init__()
        self.inp = nn.Linear(bins, hidden)
        self.gru = nn.GRU(hidden, hidden, num_layers=2, batch_first=True)
        self.out = nn.Linear(hidden, bins)

    def forward(self, spec):
        h, _ = self.gru(torch.relu(self.inp(spec)))
        return spec * torch.sigmoid(self.out(h))


class DsCnn(nn.Module):
    """DS-CNN keyword spotting (Hello Edge): MFCC [B, 1, 49, 10] -> conv, 4 depthwise-separable
    blocks, average pool, 12 classes."""

    def __init__(self, c=64, classes=12):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, c, (10, 4), (2, 2), (5, 1), bias=False), nn.BatchNorm2d(c), nn.ReLU()
        )
        self.blocks = nn.Sequential(
            *[nn.Sequential(conv_bn(c, c, 3, groups=c), conv_bn(c, c, 1)) for _ in range(4)]
        )
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = self.blocks(self.conv(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _mel_filters(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular mel filters [n_mels, n_fft // 2 + 1] (HTK mel scale)."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    pts = hz(np.linspace(mel(0), mel(sr / 2), n_mels + 2))
    bins = np.linspace(0, sr / 2, n_fft // 2 + 1)
    fb = np.zeros((n_mels, bins.size))
    for m in range(n_mels):
        lo, c, hi = pts[m : m + 3]
        fb[m] = np.maximum(0, np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)))
    return fb.astype(np.float32)


class MelFrontEnd(nn.Module):
    """Whisper's log-mel front end: STFT as two Conv1d (Hann-windowed cos and sin kernels,
    stride = hop), power, mel filterbank (MatMul), log10 with a floor, clamp to max - 8
    (ReduceMax), scale."""

    def __init__(self, n_fft=128, hop=64, n_mels=32, sr=8000):
        super().__init__()
        k = np.arange(n_fft // 2 + 1)[:, None] * np.arange(n_fft)[None, :]
        win = np.hanning(n_fft + 1)[:-1]
        ang = 2 * np.pi * k / n_fft
        self.register_buffer(
            "cos", torch.tensor((np.cos(ang) * win)[:, None, :], dtype=torch.float32)
        )
        self.register_buffer(
            "sin", torch.tensor((-np.sin(ang) * win)[:, None, :], dtype=torch.float32)
        )
        self.register_buffer("mel", torch.tensor(_mel_filters(sr, n_fft, n_mels)))
        self.hop = hop

    def forward(self, wav):
        re = F.conv1d(wav, self.cos, stride=self.hop)
        im = F.conv1d(wav, self.sin, stride=self.hop)
        power = re * re + im * im  # [B, bins, frames]
        mel = torch.matmul(self.mel, power)
        log = torch.clamp(mel, min=1e-10).log10()
        log = torch.maximum(log, log.max() - 8.0)
        return (log + 4.0) / 4.0


class WhisperEncoder(nn.Module):
    """Whisper's audio encoder: two Conv1d + GELU (the second stride 2), sinusoidal positions,
    pre-norm transformer blocks, a final LayerNorm."""

    def __init__(self, n_mels=32, frames=64, dim=64, heads=4, depth=2):
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, dim, 3, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, 3, stride=2, padding=1)
        n = frames // 2
        inv = torch.exp(-math.log(10000) * torch.arange(dim // 2) / (dim // 2 - 1))
        t = torch.arange(n)[:, None] * inv[None, :]
        self.register_buffer("pos", torch.cat([t.sin(), t.cos()], 1)[None])
        self.blocks = nn.ModuleList(EncoderBlock(dim, heads, fused=False) for _ in range(depth))
        self.ln = nn.LayerNorm(dim)

    def forward(self, mel):
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).permute(0, 2, 1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.ln(x)


class TextClassifier(nn.Module):
    """A BERT-style classifier over token ids: word + position embeddings (Gather), the
    attention mask as an additive bias ((1 - mask) * -1e4), 2 encoder blocks, the first token's
    state through a tanh pooler to the logits."""

    def __init__(self, vocab=1000, seq=32, dim=64, heads=4, depth=2, classes=3):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, dim), nn.Embedding(seq, dim)
        self.ln = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(EncoderBlock(dim, heads, fused=False) for _ in range(depth))
        self.pool, self.fc = nn.Linear(dim, dim), nn.Linear(dim, classes)

    def forward(self, ids, mask):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.ln(self.tok(ids) + self.pos(pos))
        bias = (1.0 - mask[:, None, None, :].to(torch.float32)) * -10000.0
        for blk in self.blocks:
            x = blk(x, bias)
        return self.fc(torch.tanh(self.pool(x[:, 0])))


class LstmTagger(nn.Module):
    """A sequence tagger: token ids -> embedding (Gather) -> 2-layer LSTM -> per-token tags."""

    def __init__(self, vocab=500, dim=32, hidden=48, tags=9):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, tags)

    def forward(self, ids):
        y, _ = self.lstm(self.emb(ids))
        return self.fc(y)
