"""``npu regress``: record baselines, pass on the same code, JUnit and JSON, user errors."""

from __future__ import annotations

import contextlib
import json
import shutil
import tomllib
import xml.etree.ElementTree as ET

import pytest

import compiler
from npu.cli import main
from npu.regress import measure, runner
from npu.regress.suite import load_suite
from simulator.errors import UnsupportedOpError

SUITE = """\
[defaults]
config = "tiny"

[[case]]
name = "mlp"
model = "zoo:mlp_mnist"
hold = ["cycles", "layer_cycles", "dram", "layer_dram", "energy", "memory", "outputs", "check"]

[[case]]
name = "mlp-seed3-rows16"
model = "zoo:mlp_mnist"
seed = 3
set = { array.rows = 16 }
hold = ["cycles", "layer_cycles"]
rules = { "layer.*.cycles" = { rel = 0.5 } }
"""


def npu(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, *words: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A suite with its baselines recorded once (by --update) for the module's tests."""
    folder = tmp_path_factory.mktemp("recorded")
    (folder / "suite.toml").write_text(SUITE)
    args = ["regress", str(folder / "suite.toml"), "--update", "--reason", "first  baselines"]
    assert main(args) == 0
    return folder


@pytest.fixture
def suite(recorded, tmp_path):
    """A fresh copy of the recorded suite: its .toml, baselines and change log."""
    for f in recorded.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / "suite.toml"


def test_update_writes_readable_baselines_and_logs_the_reason(suite):
    baselines = tomllib.loads(suite.with_name("suite.baseline.toml").read_text())["case"]
    assert list(baselines) == ["mlp", "mlp-seed3-rows16"]
    mlp = baselines["mlp"]
    assert mlp["model"] == "zoo:mlp_mnist" and mlp["config"] == "tiny" and mlp["seed"] == 0
    assert mlp["cycles"] > 0 and mlp["check.logits.passed"] is True
    layer_cycles = [k for k in mlp if k.startswith("layer.") and k.endswith(".cycles")]
    assert len(layer_cycles) >= 3
    assert sum(mlp[k] for k in layer_cycles) >= mlp["cycles"] * 0.5
    other = baselines["mlp-seed3-rows16"]
    assert set(other) - {"model", "config", "seed", "input_shapes", "fingerprint"} == {
        "cycles",
        *(k for k in layer_cycles),
    }
    assert other["config"] == "tiny array.rows=16" and other["fingerprint"] != mlp["fingerprint"]
    log = suite.with_name("suite.changelog").read_text().splitlines()
    assert (
        len(log) == 1 and "| first baselines | mlp: recorded; mlp-seed3-rows16: recorded" in log[0]
    )


def test_unchanged_code_passes_with_junit_and_json(suite, capsys):
    junit, js = suite.with_name("r.xml"), suite.with_name("r.json")
    code, out, _ = npu(capsys, "regress", suite, "--junit", junit, "--json", js, "--jobs", "2")
    assert code == 0, out
    assert "2 case(s): 2 unchanged" in out
    report = json.loads(js.read_text())
    assert report["exit_code"] == 0 and report["summary"] == {"unchanged": 2}
    statuses = {m["status"] for c in report["cases"] for m in c["metrics"]}
    assert statuses == {"unchanged"}
    assert [c["timing_only"] for c in report["cases"]][0] is False
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    (testsuite,) = root
    assert testsuite.get("tests") == "2" and testsuite.get("failures") == "0"
    cases = testsuite.findall("testcase")
    assert [c.get("name") for c in cases] == ["mlp", "mlp-seed3-rows16"]
    props = {p.get("name"): p.get("value") for p in cases[0].find("properties")}
    assert int(props["cycles"]) == report["cases"][0]["metrics"][0]["after"]
    assert props["check.logits.passed"] == "true"


def test_a_moved_baseline_is_a_regression_in_every_report(suite, capsys):
    path = suite.with_name("suite.baseline.toml")
    text = path.read_text()
    mlp = tomllib.loads(text)["case"]["mlp"]
    layer = next(k for k in mlp if k.startswith("layer.") and k.endswith(".cycles"))
    old = f'"{layer}" = {mlp[layer]}\n'
    path.write_text(text.replace(old, f'"{layer}" = {mlp[layer] - 7}\n', 1))
    junit = suite.with_name("r.xml")
    code, out, _ = npu(capsys, "regress", suite, "--junit", junit)
    assert code == 1
    assert layer in out and "regressed" in out and "+7" in out
    assert "1 regressed, 1 unchanged" in out
    failure = ET.parse(junit).getroot().find("testsuite/testcase/failure")
    assert failure.get("message") == f"regressed: {layer}"
    assert f"{layer}: {mlp[layer] - 7:,} -> {mlp[layer]:,} +7" in failure.text


def test_filter_runs_the_matching_cases(suite, capsys):
    code, out, _ = npu(capsys, "regress", suite, "--filter", "*rows16")
    assert code == 0 and "1 case(s): 1 unchanged" in out and "mlp-seed3-rows16" in out


BAD_SUITES = {
    "not toml": ("[[case]\nname=", "not valid TOML"),
    "no cases": ("[defaults]\nconfig = 'tiny'\n", "no [[case]]"),
    "unknown key": ('[[case]]\nname = "a"\nmodel = "zoo:mlp_mnist"\nholds = []\n', "'holds'"),
    "unknown hold": ('[[case]]\nname = "a"\nmodel = "zoo:x"\nhold = ["cycels"]\n', "'cycels'"),
    "bad rule": (
        '[[case]]\nname = "a"\nmodel = "zoo:x"\nrules = { cycles = { rel = -1 } }\n',
        "rel must be a number >= 0",
    ),
    "rule names no metric": (
        '[[case]]\nname = "a"\nmodel = "zoo:x"\nrules = { cycels = "exact" }\n',
        "'cycels': names no metric",
    ),
    "missing model": ('[[case]]\nname = "a"\nmodel = "gone.onnx"\n', "gone.onnx"),
    "bad config key": (
        '[[case]]\nname = "a"\nmodel = "zoo:x"\nset = { "array.rowz" = 4 }\n',
        "array.rowz",
    ),
    "duplicate": ('[[case]]\nname = "a"\nmodel = "zoo:x"\n' * 2, "'a' appears twice"),
    "bad seed": ('[[case]]\nname = "a"\nmodel = "zoo:x"\nseed = -1\n', "seed must be"),
}


@pytest.mark.parametrize("name", BAD_SUITES)
def test_a_malformed_suite_is_one_line(tmp_path, capsys, name):
    body, words = BAD_SUITES[name]
    path = tmp_path / "bad.toml"
    path.write_text(body)
    code, out, err = npu(capsys, "regress", path)
    assert code == 2
    one_error_line(err, "bad.toml", words)


def test_missing_baselines_are_one_line(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(SUITE)
    code, _, err = npu(capsys, "regress", path)
    assert code == 2
    one_error_line(err, "s.baseline.toml", "does not exist", "--update")


def test_a_case_without_baseline_is_one_line(suite, capsys):
    suite.write_text(SUITE + '\n[[case]]\nname = "new"\nmodel = "zoo:mlp_mnist"\n')
    code, _, err = npu(capsys, "regress", suite)
    assert code == 2
    one_error_line(err, "case 'new' has no baseline", "--filter 'new' --update")


def test_a_suite_edited_without_update_is_one_line(suite, capsys):
    suite.write_text(SUITE.replace("seed = 3", "seed = 4"))
    code, _, err = npu(capsys, "regress", suite)
    assert code == 2
    one_error_line(err, "'mlp-seed3-rows16'", "seed is 4", "recorded with 3")


def test_malformed_baselines_are_one_line(suite, capsys):
    suite.with_name("suite.baseline.toml").write_text('[case.mlp]\ncycles = "12\n')
    code, _, err = npu(capsys, "regress", suite)
    assert code == 2
    one_error_line(err, "suite.baseline.toml", "not valid TOML")


@pytest.mark.parametrize(
    "args, words",
    [
        (["--update"], "--update needs --reason"),
        (["--update", "--reason", "  "], "--update needs --reason"),
        (["--reason", "why"], "--reason is only for --update"),
        (["--filter", "zzz"], "--filter 'zzz' matches no case"),
        (["--jobs", "0"], "--jobs: must be a positive integer"),
    ],
)
def test_bad_options_are_one_line(suite, capsys, args, words):
    with pytest.raises(SystemExit) if "--jobs" in args else contextlib.nullcontext():
        code, _, err = npu(capsys, "regress", suite, *args)
        assert code == 2
        one_error_line(err, words)
    if "--jobs" in args:
        one_error_line(capsys.readouterr().err, words)


def test_cases_of_one_model_and_config_share_a_compile(tmp_path, monkeypatch):
    """Two seeds of one model share a compile; a timing-only case (no output held) holds the
    same numbers as a full run (simulator.run(numerics=False) where the simulator has it)."""
    (tmp_path / "s.toml").write_text(
        '[defaults]\nmodel = "zoo:mlp_mnist"\nconfig = "tiny"\n'
        '[[case]]\nname = "full"\n'
        '[[case]]\nname = "timing"\nseed = 5\nhold = ["cycles", "layer_cycles", "energy"]\n'
        '[[case]]\nname = "slow"\nset = { "dram.bytes_per_cycle" = 2 }\nhold = ["cycles"]\n'
    )
    compiles = []
    import compiler

    real = compiler.compile
    monkeypatch.setattr(compiler, "compile", lambda *a: compiles.append(a) or real(*a))
    full, timing, slow = runner.measure(list(load_suite(tmp_path / "s.toml").cases))
    assert len(compiles) == 2  # mlp_mnist on tiny, and on tiny with a slower DRAM
    assert not full.timing_only and timing.timing_only == measure.TIMING_ONLY
    assert timing.metrics == {k: full.metrics[k] for k in timing.metrics}
    assert len(timing.metrics) == 2 + sum(k.startswith("layer.") for k in timing.metrics)
    assert slow.metrics["cycles"] > full.metrics["cycles"]


def test_a_case_that_stops_is_newly_failing_and_blocks_update(suite, capsys, monkeypatch):
    def refuse(*args, **kw):
        raise UnsupportedOpError("1 unsupported node(s): fc1 (Gemm, opset 17)")

    monkeypatch.setattr(compiler, "compile", refuse)
    junit = suite.with_name("r.xml")
    before = suite.with_name("suite.baseline.toml").read_text()
    code, out, _ = npu(capsys, "regress", suite, "--junit", junit)
    assert code == 1
    assert "newly failing" in out and "compile: 1 unsupported node(s): fc1 (Gemm" in out
    errors = ET.parse(junit).getroot().findall("testsuite/testcase/error")
    assert len(errors) == 2 and errors[0].get("message").startswith("compile: 1 unsupported")
    code, out, _ = npu(capsys, "regress", suite, "--update", "--reason", "x")
    assert code == 1 and "baselines NOT updated" in out
    assert suite.with_name("suite.baseline.toml").read_text() == before
    assert len(suite.with_name("suite.changelog").read_text().splitlines()) == 1


def test_update_of_one_case_keeps_the_others(suite, capsys):
    path = suite.with_name("suite.baseline.toml")
    text = path.read_text()
    blocks = tomllib.loads(text)["case"]
    cycles = blocks["mlp-seed3-rows16"]["cycles"]
    head, sep, tail = text.partition("[case.mlp-seed3-rows16]")
    path.write_text(head + sep + tail.replace(f"cycles = {cycles}\n", f"cycles = {cycles + 9}\n"))
    args = ("regress", suite, "--filter", "mlp-seed3*", "--update", "--reason", "rows16 again")
    code, out, _ = npu(capsys, *args)
    assert code == 0 and "baselines written" in out
    assert path.read_text() == text
    line = suite.with_name("suite.changelog").read_text().splitlines()[-1]
    assert f"| rows16 again | mlp-seed3-rows16: cycles {cycles + 9:,} -> {cycles:,} (-" in line
