"""``--where``: a constraint over config keys, parsed with ``ast`` and evaluated by a whitelist.

The text is never given to ``eval``: only numbers, strings, config keys (``array.rows``,
``clock_mhz``), arithmetic (``+ - * / // %``, ``**`` with a small exponent), comparisons
(chains too; ``in`` for lists such as ``array.dtypes``), ``and``/``or``/``not``, a conditional and the calls ``min``, ``max``, ``abs`` are
allowed; anything else is a ``ConfigError`` naming it. Keys are checked against the config's
declared keys when the expression is compiled, so a typo fails before any point runs.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.config import NpuConfig, describe_keys
from simulator.errors import ConfigError

MAX_LENGTH = 1000
MAX_POWER = 64  # the largest exponent of **: keeps a constraint's numbers small

BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
CALLS = {"min": min, "max": max, "abs": abs}


def config_keys() -> set[str]:
    return {key for key, *_ in describe_keys()}


@dataclass(frozen=True)
class Where:
    """A compiled constraint: ``where(config) -> bool``."""

    text: str
    tree: ast.Expression

    def __call__(self, config: NpuConfig) -> bool:
        values = config.to_dict()
        try:
            return bool(_eval(self.tree.body, values, self.text))
        except (ZeroDivisionError, OverflowError, TypeError) as exc:
            raise ConfigError(f"--where {self.text!r}: {exc} for this config") from None


def parse(text: str) -> Where:
    """Parse and check ``text``; ``ConfigError`` names what is not allowed."""
    if len(text) > MAX_LENGTH:
        raise ConfigError(f"--where is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ConfigError(f"--where {text!r} is not an expression: {exc}") from None
    known = config_keys()
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    sections = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if id(node) not in sections:  # 'array' of array.rows: checked with its attribute
            _check_node(node, known, text, id(node) in calls)
    return Where(text, tree)


def key_name(node: ast.AST) -> str | None:
    """``array.rows`` -> "array.rows"; ``clock_mhz`` -> "clock_mhz"; else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Constant,
    ast.Name,
    ast.Attribute,
    ast.Call,
    ast.Load,
    ast.And,
    ast.Or,
    *BINARY,
    *UNARY,
    *COMPARE,
)


def _check_node(node: ast.AST, known: set[str], text: str, called: bool) -> None:
    if not isinstance(node, ALLOWED):
        raise ConfigError(f"--where {text!r}: {type(node).__name__} is not allowed")
    if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str):
        raise ConfigError(f"--where {text!r}: the constant {node.value!r} is not allowed")
    if isinstance(node, ast.Call):
        name = key_name(node.func)
        if name not in CALLS or node.keywords or not node.args:
            raise ConfigError(f"--where {text!r}: only the calls {', '.join(CALLS)} are allowed")
    if isinstance(node, ast.Attribute) and key_name(node) not in known:
        raise ConfigError(
            f"--where {text!r}: unknown config key {ast.unparse(node)!r} (see 'npu configs keys')"
        )
    if isinstance(node, ast.Name) and not called and node.id not in known:
        raise ConfigError(f"--where {text!r}: unknown config key {node.id!r}")


def _eval(node: ast.AST, values: dict[str, Any], text: str) -> Any:
    key = key_name(node)
    if key is not None:
        return _lookup(values, key)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BinOp):
        return _binary(node, values, text)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, values, text)
        if not isinstance(node.op, ast.Not):
            operand = _number(operand, text)
        return UNARY[type(node.op)](operand)
    if isinstance(node, ast.BoolOp):
        return _bool(node, values, text)
    if isinstance(node, ast.Compare):
        return _compare(node, values, text)
    if isinstance(node, ast.IfExp):
        branch = node.body if _eval(node.test, values, text) else node.orelse
        return _eval(branch, values, text)
    assert isinstance(node, ast.Call)  # parse() allowed nothing else
    fn: Callable = CALLS[node.func.id]
    return fn(*(_eval(a, values, text) for a in node.args))


def _lookup(values: dict[str, Any], key: str) -> Any:
    section, _, name = key.partition(".")
    value = values[section][name] if name else values[section]
    return list(value) if isinstance(value, tuple) else value


def _number(value: Any, text: str) -> int | float:
    """Arithmetic takes numbers only (no string or list repetition)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"--where {text!r}: arithmetic on {value!r}, which is not a number")
    return value


def _binary(node: ast.BinOp, values: dict[str, Any], text: str) -> Any:
    left = _number(_eval(node.left, values, text), text)
    right = _number(_eval(node.right, values, text), text)
    if isinstance(node.op, ast.Pow) and isinstance(right, int | float) and abs(right) > MAX_POWER:
        raise ConfigError(f"--where {text!r}: an exponent above {MAX_POWER} is not allowed")
    return BINARY[type(node.op)](left, right)


def _bool(node: ast.BoolOp, values: dict[str, Any], text: str) -> Any:
    result: Any = isinstance(node.op, ast.And)
    for operand in node.values:
        result = _eval(operand, values, text)
        if bool(result) != isinstance(node.op, ast.And):
            return result
    return result


def _compare(node: ast.Compare, values: dict[str, Any], text: str) -> bool:
    left = _eval(node.left, values, text)
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        right = _eval(comparator, values, text)
        if not COMPARE[type(op)](left, right):
            return False
        left = right
    return True
