"""ISA properties: decode inverts encode for every class; out-of-range fields are rejected.
Also: the checked-in docs/isa.md is the generated one, and rounding matches a reference."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import isa
from simulator.errors import ProgramFormatError
from simulator.isa_docs import render
from simulator.semantics import shift_round_half_even

ROOT = Path(__file__).resolve().parents[2]


def _range(fl: isa.FieldLayout) -> tuple[int, int]:
    if fl.signed:
        return -(1 << (fl.bits - 1)), (1 << (fl.bits - 1)) - 1
    return 0, (1 << fl.bits) - 1


def _instructions(cls):
    fields = {fl.name: st.integers(*_range(fl)) for fl in isa.layout(cls)[1:]}
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


ANY_INSTR = st.one_of(*(_instructions(cls) for cls in isa.INSTRUCTIONS))


@settings(max_examples=300, deadline=None)
@given(ANY_INSTR)
def test_decode_inverts_encode(instr):
    word = isa.encode(instr)
    assert len(word) == isa.WORD_BYTES
    assert isa.decode(word) == instr


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(isa.INSTRUCTIONS).flatmap(lambda c: st.tuples(st.just(c), _instructions(c))),
    st.data(),
)
def test_out_of_range_fields_are_rejected(cls_and_instr, data):
    cls, instr = cls_and_instr
    fl = data.draw(st.sampled_from(isa.layout(cls)[1:]))
    lo, hi = _range(fl)
    bad = data.draw(
        st.one_of(st.integers(hi + 1, hi + (1 << 40)), st.integers(lo - (1 << 40), lo - 1))
    )
    with pytest.raises(ValueError, match=f"{cls.__name__}.{fl.name} = {bad} does not fit"):
        isa.encode(instr.replace(**{fl.name: bad}))


@settings(max_examples=200, deadline=None)
@given(ANY_INSTR, st.data())
def test_construct_equals_the_dataclass_init(instr, data):
    """``construct`` (the builders' fast path) makes what ``cls(**values)`` makes, from all
    the fields or some (the others at their defaults)."""
    values = dict(vars(instr))
    assert isa.construct(type(instr), values) == instr
    some = {k: v for k, v in values.items() if data.draw(st.booleans(), label=k)}
    made, init = isa.construct(type(instr), some), type(instr)(**some)
    assert made == init and vars(made) == vars(init)


def test_decode_rejects_unknown_opcode_and_stray_bits():
    with pytest.raises(ProgramFormatError, match="instruction 7: unknown opcode 0"):
        isa.decode(bytes(isa.WORD_BYTES), 7)
    word = bytearray(isa.encode(isa.End()))
    word[-1] = 0x80
    with pytest.raises(ProgramFormatError, match="End has bits set past bit"):
        isa.decode(bytes(word))


def test_docs_isa_md_is_generated():
    assert (ROOT / "docs" / "isa.md").read_text() == render(), (
        "docs/isa.md is stale: run python -m simulator.isa_docs > docs/isa.md"
    )


def _reference_round(value: int, shift: int) -> int:
    shift = min(shift, 62)
    q, rem = divmod(value, 1 << shift)
    half = (1 << shift) // 2
    return q + (shift > 0 and (rem > half or (rem == half and q & 1)))


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**55), 2**55), st.integers(0, 255))
def test_shift_round_half_even_matches_exact_integers(value, shift):
    assert int(shift_round_half_even(np.int64(value), shift)) == _reference_round(value, shift)
