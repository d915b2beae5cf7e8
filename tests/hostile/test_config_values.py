"""Every config key, present and future, refuses what the timing model cannot hold: NaN and
infinities for any number, and values beyond the key's range (2**62 used to overflow the
timing model into a false deadlock). Generic over ``describe_keys``: a key added later is
covered without a line here."""

from __future__ import annotations

import pytest

from simulator.config import describe_keys, load_config
from simulator.errors import ConfigError

NUMERIC = [key for key, kind, _, _ in describe_keys() if kind in ("int", "float")]


@pytest.mark.parametrize("key", NUMERIC)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", str(1 << 62), "1e300"])
def test_numbers_must_be_finite_and_in_range(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("base", [f"{key}={value}"])


@pytest.mark.parametrize("key", NUMERIC)
def test_defaults_are_in_range(key):
    config = load_config("base")
    section, _, name = key.rpartition(".")
    value = getattr(getattr(config, section) if section else config, name)
    assert load_config("base", [f"{key}={value!r}"]) == config


def test_nested_values_and_files(tmp_path):
    with pytest.raises(ConfigError, match="nests deeper"):
        load_config("base", ["array.rows=" + "[" * 5000 + "]" * 5000])
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nests deeper"):
        load_config(deep)


def test_inherit_is_resolved_next_to_the_file(tmp_path, monkeypatch):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "parent.toml").write_text('inherit = "base"\n[array]\nrows = 8\n')
    (tmp_path / "cfg" / "child.toml").write_text('inherit = "parent.toml"\n[array]\ncols = 4\n')
    monkeypatch.chdir(tmp_path)  # parent.toml is not in the working directory
    config = load_config("cfg/child.toml")
    assert (config.array.rows, config.array.cols) == (8, 4)


def test_inherit_chain_is_bounded(tmp_path):
    for i in range(40):
        (tmp_path / f"c{i}.toml").write_text(f'inherit = "c{i + 1}.toml"\n')
    (tmp_path / "c40.toml").write_text('inherit = "base"\n')
    with pytest.raises(ConfigError, match="inherit chain"):
        load_config(tmp_path / "c0.toml")
    assert load_config(tmp_path / "c20.toml").array == load_config("base").array


def test_empty_config_name():
    with pytest.raises(ConfigError, match="empty"):
        load_config("")
