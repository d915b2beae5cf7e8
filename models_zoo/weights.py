"""Where a layer's weights come from: a seeded initialiser, or a trained checkpoint.

Layers ask for a weight by name, shape and initialisation scheme. `SeededWeights` draws
it (He for layers feeding ReLU-like activations, Xavier for projections), in request
order from one generator, so builds are reproducible. `CheckpointWeights` looks the
name up in a state dict (PyTorch layout: linear weights are [out, in]).
"""

import math
from dataclasses import dataclass

import numpy as np

from models_zoo.errors import ZooError


@dataclass(frozen=True)
class Init:
    """An initialisation scheme: he, xavier, normal, uniform, ones, zeros."""

    scheme: str
    fan_in: int = 1
    fan_out: int = 1
    scale: float = 1.0  # gain (he), std (normal), half-width (uniform), value (ones)


class SeededWeights:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def get(self, name: str, shape: tuple, init: Init, linear: bool = False) -> np.ndarray:
        return _draw(self.rng, shape, init).astype(np.float32)


def _draw(rng: np.random.Generator, shape: tuple, init: Init) -> np.ndarray:
    if init.scheme == "he":
        return rng.normal(0.0, init.scale * math.sqrt(2.0 / init.fan_in), size=shape)
    if init.scheme == "xavier":
        limit = init.scale * math.sqrt(6.0 / (init.fan_in + init.fan_out))
        return rng.uniform(-limit, limit, size=shape)
    if init.scheme == "normal":
        return rng.normal(0.0, init.scale, size=shape)
    if init.scheme == "uniform":
        return rng.uniform(1.0 - init.scale, 1.0 + init.scale, size=shape)
    if init.scheme == "ones":
        return np.full(shape, init.scale)
    if init.scheme == "zeros":
        return np.zeros(shape)
    raise ValueError(f"unknown init scheme {init.scheme!r}")


class CheckpointWeights:
    def __init__(self, tensors: dict[str, np.ndarray], source: str):
        self.tensors = tensors
        self.source = source

    def get(self, name: str, shape: tuple, init: Init, linear: bool = False) -> np.ndarray:
        if name not in self.tensors:
            raise ZooError(f"checkpoint {self.source} has no tensor {name!r}")
        array = self.tensors[name].T if linear else self.tensors[name]
        if array.shape != tuple(shape):
            raise ZooError(
                f"checkpoint tensor {name!r} has shape {array.shape}, expected {tuple(shape)}"
            )
        return np.ascontiguousarray(array, dtype=np.float32)
