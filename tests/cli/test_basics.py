"""Help, version, configs and ops: the commands that need no model."""

from __future__ import annotations

import tomllib

import pytest
from conftest import assert_user_error, npu

COMMANDS = ["compile", "run", "profile", "check", "bench", "ops", "configs", "scalesim"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_examples(command):
    r = npu(command, "--help")
    assert r.code == 0, r.err
    assert "examples:" in r.out and f"npu {command}" in r.out


def test_top_level_help_lists_every_command():
    r = npu("--help")
    assert r.code == 0
    for command in COMMANDS + ["zoo"]:
        assert command in r.out


def test_no_command_is_a_usage_error():
    assert_user_error(npu(), "command")


def test_unknown_option_is_one_line():
    r = npu("run", "m.npuprog", "--inputs", "i.npz", "--out", "o.npz", "--frobnicate")
    assert_user_error(r, "--frobnicate")


def test_configs_lists_presets():
    r = npu("configs")
    assert r.code == 0, r.err
    for name in ("base", "small", "tiny", "large", "tpu-v1"):
        assert name in r.out
    assert "32x32" in r.out


def test_configs_show_applies_overrides_and_reads_back(tmp_path):
    r = npu("configs", "show", "base", "--set", "array.rows=64")
    assert r.code == 0, r.err
    toml = tmp_path / "resolved.toml"
    toml.write_text(r.out)
    data = tomllib.loads(r.out)
    assert data["array"]["rows"] == 64 and data["array"]["cols"] == 32
    again = npu("configs", "show", toml, "--json")
    assert '"rows": 64' in again.out


def test_configs_keys_documents_every_key():
    r = npu("configs", "keys")
    assert r.code == 0
    assert "array.rows" in r.out and "dram.bytes_per_cycle" in r.out


@pytest.mark.parametrize(
    "args, words",
    [
        (["configs", "show", "nonesuch"], ["unknown preset", "nonesuch", "base"]),
        (["configs", "show", "base", "--set", "array.rowz=3"], ["array.rowz"]),
        (["configs", "show", "base", "--set", "array.rows=-3"], ["array.rows", "-3"]),
        (["configs", "show", "base", "--set", "array.rows=abc"], ["array.rows", "abc"]),
        (["configs", "show", "base", "--set", "rows"], ["key=value"]),
        (["configs", "show", "missing.toml"], ["missing.toml", "does not exist"]),
    ],
)
def test_config_errors(args, words):
    assert_user_error(npu(*args), *words)


def test_ops_lists_operators():
    r = npu("ops")
    assert r.code == 0, r.err
    for op in ("Conv", "Gemm", "Relu"):
        assert op in r.out
