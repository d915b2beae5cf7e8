"""Instructions apart from their tokens.

Tile loops repeat a few instructions that differ only in their ``wait``/``signal`` bits, so
whatever the other fields determine (numerics closures, durations, counters) is computed once
per distinct instruction: ``distinct`` numbers them in one pass over the program, and the
functional model, the timing model and the statistics index by that number.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter, itemgetter
from typing import NamedTuple

from simulator.isa import INSTRUCTIONS, Instr

TOKENS = ("wait", "signal")


class Distinct(NamedTuple):
    """Instruction ``i`` equals ``instrs[first[ids[i]]]`` but for its tokens."""

    ids: list[int]  # per instruction: the number of its distinct instruction
    first: list[int]  # per distinct instruction: the index of its first occurrence


def _getter(cls: type[Instr]):
    names = [f.name for f in fields(cls) if f.name not in TOKENS]
    if len(names) == 1:  # attrgetter of one name returns the value, not a 1-tuple
        return lambda instr: (getattr(instr, names[0]),)
    return attrgetter(*names) if names else (lambda instr: ())


# Every field but the tokens, in declaration order, per instruction class.
TOKEN_FREE = {cls: _getter(cls) for cls in INSTRUCTIONS}


def _dict_getter(cls: type[Instr]):
    """``TOKEN_FREE[cls]`` on an instance's ``__dict__`` (subscripts cost less than getattr)."""
    names = [f.name for f in fields(cls) if f.name not in TOKENS]
    if len(names) < 2 or not cls.__dictoffset__ or any(map(_descriptor, [cls] * len(names), names)):
        return None
    return itemgetter(*names)


def _descriptor(cls: type, name: str) -> bool:
    """True if a class attribute ``name`` (not a plain default) would take over getattr."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return hasattr(type(vars(klass)[name]), "__get__")
    return False


# Per class with plain instance fields: ``TOKEN_FREE`` through ``vars(instr)``.
_FROM_DICT = {cls: g for cls in INSTRUCTIONS if (g := _dict_getter(cls)) is not None}


def distinct(instrs: list[Instr]) -> Distinct:
    """Number the distinct token-free instructions in order of first appearance.

    An instruction of a class outside ``isa.INSTRUCTIONS`` is distinct from every other.
    """
    numbers: dict[tuple, int] = {}
    ids, first = [], []
    getters, from_dict = TOKEN_FREE, _FROM_DICT
    for index, instr in enumerate(instrs):
        cls = type(instr)
        get = from_dict.get(cls)
        if get is not None:
            f = get(instr.__dict__)
        else:
            get = getters.get(cls)
            f = get(instr) if get is not None else (index,)
        count = len(first)
        k = numbers.setdefault((cls, f), count)
        if k == count:
            first.append(index)
        ids.append(k)
    return Distinct(ids, first)
