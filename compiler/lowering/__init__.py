"""Lowerings, one function per op, each declared in its module's ``OPS`` table; ``TABLES`` lists
the tables ``compiler.ops`` merges into the registry (a new lowering module adds its table here)."""

from compiler.lowering import (
    attention,
    conv,
    convtranspose,
    eltwise,
    families,
    indexing,
    kvcache,
    lrn,
    movement,
    nbits,
    pool,
    qmatmul,
    quant,
    recurrent,
    reduce,
    rowwise,
)

TABLES = (
    attention.OPS,
    conv.OPS,
    convtranspose.OPS,
    eltwise.OPS,
    indexing.OPS,
    kvcache.OPS,
    families.OPS,
    lrn.OPS,
    movement.OPS,
    nbits.OPS,
    pool.OPS,
    qmatmul.OPS,
    quant.OPS,
    recurrent.OPS,
    reduce.OPS,
    rowwise.OPS,
)
