"""The zoo's error: an unknown model name, a missing optional package, a bad cache."""

from simulator.errors import ModelError


class ZooError(ModelError, ValueError):
    """A zoo model cannot be found or built; the message names it and says why."""
