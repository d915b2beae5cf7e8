"""`npu zoo list|build` through the parser the npu CLI will register."""

import argparse

import onnx
import pytest

import models_zoo
from models_zoo.cli import add_zoo_parser


def parse(argv):
    parser = argparse.ArgumentParser(prog="npu")
    add_zoo_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_zoo_list_prints_every_model(capsys):
    args = parse(["zoo", "list"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in models_zoo.names())
    assert "4.09 G" in out and "image [1, 3, 224, 224]" in out


@pytest.mark.parametrize(
    "argv, filename",
    [(["lenet5", "--int8"], "lenet5-int8.onnx"), (["zoo:mlp_mnist"], "mlp_mnist.onnx")],
)
def test_zoo_build_writes_the_model(tmp_path, capsys, argv, filename):
    args = parse(["zoo", "build", *argv, "-o", str(tmp_path / "out")])
    assert args.func(args) == 0
    written = tmp_path / "out" / filename
    assert capsys.readouterr().out.strip() == str(written)
    onnx.checker.check_model(onnx.load(written))


def test_zoo_build_unknown_name_raises_zoo_error(tmp_path):
    args = parse(["zoo", "build", "nosuchnet", "-o", str(tmp_path)])
    with pytest.raises(models_zoo.ZooError, match="nosuchnet"):
        args.func(args)


def test_zoo_build_int8_of_a_weight_only_model_is_refused(tmp_path):
    args = parse(["zoo", "build", "llama_int4", "--int8", "-o", str(tmp_path)])
    with pytest.raises(models_zoo.ZooError, match="'llama_int4' has no int8 QDQ variant"):
        args.func(args)
