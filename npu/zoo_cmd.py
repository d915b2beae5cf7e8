"""``npu zoo ...``: the model zoo's own commands (``models_zoo.cli``), when the zoo is installed."""

from __future__ import annotations


def add_parser(sub) -> None:
    try:
        from models_zoo.cli import add_zoo_parser
    except ImportError:
        return
    add_zoo_parser(sub)
