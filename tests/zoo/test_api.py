"""The zoo's API: names, errors, the cache, `zoo:` resolution, listing."""

from pathlib import Path

import onnx
import pytest

import models_zoo
from models_zoo import api, cache
from simulator.errors import ModelError


def test_unknown_name_is_a_clean_model_error():
    with pytest.raises(models_zoo.ZooError, match=r"unknown zoo model 'resnet19'.*resnet18"):
        models_zoo.build("resnet19")
    assert issubclass(models_zoo.ZooError, ModelError) and issubclass(
        models_zoo.ZooError, ValueError
    )


@pytest.mark.parametrize("spec", ["zoo:resnet19", "zoo:", "zoo:resnet18-int4"])
def test_resolving_an_unknown_zoo_name_fails(spec):
    with pytest.raises(models_zoo.ZooError):
        models_zoo.resolve_model_path(spec)


@pytest.mark.parametrize("spec", ["zoo:llama-int8", "zoo:llama_decode_int4-int8"])
def test_the_llama_decoders_have_no_qdq_variant(spec):
    with pytest.raises(models_zoo.ZooError, match=r"'llama\w*' has no int8 QDQ variant"):
        models_zoo.resolve_model_path(spec)
    with pytest.raises(models_zoo.ZooError, match="weight-only"):
        models_zoo.build(models_zoo.parse_zoo_name(spec.removesuffix("-int8"))[0], int8=True)
    assert "llama" in models_zoo.names() and "llama" not in models_zoo.qdq_names()


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("resnet18", ("resnet18", False)),
        ("zoo:resnet18-int8", ("resnet18", True)),
        ("lenet5-int8", ("lenet5", True)),
    ],
)
def test_parse_zoo_name(spec, expected):
    assert models_zoo.parse_zoo_name(spec) == expected


def test_plain_paths_resolve_to_themselves():
    assert models_zoo.resolve_model_path("models/net.onnx") == Path("models/net.onnx")
    assert not models_zoo.is_zoo_spec(Path("zoo:lenet5"))


def test_build_to_path_writes_into_the_env_cache_once(isolated_cache, monkeypatch):
    path = models_zoo.resolve_model_path("zoo:lenet5")
    assert path.parent == isolated_cache and path.is_file()
    assert onnx.load(path).SerializeToString() == models_zoo.build("lenet5").SerializeToString()
    monkeypatch.setattr(api, "build", lambda *a: pytest.fail("rebuilt a cached model"))
    assert models_zoo.build_to_path("lenet5") == path


def test_cache_keys_separate_variants_and_versions(tmp_path, monkeypatch):
    float_path = models_zoo.build_to_path("mlp_mnist", cache_dir=tmp_path)
    int8_path = models_zoo.build_to_path("mlp_mnist", int8=True, cache_dir=tmp_path)
    assert float_path != int8_path and "int8" in int8_path.name
    monkeypatch.setattr(models_zoo.registry, "ZOO_VERSION", models_zoo.registry.ZOO_VERSION + 1)
    assert cache.cached_model_path("mlp_mnist", False, tmp_path) != float_path


def test_default_cache_dir_without_env(monkeypatch):
    monkeypatch.delenv(cache.CACHE_ENV)
    assert cache.default_cache_dir() == Path.home() / ".cache" / "npu-toolchain" / "zoo"


def test_list_models_reports_every_model_with_stats():
    infos = {info.name: info for info in models_zoo.list_models()}
    assert list(infos) == models_zoo.names()
    lenet = infos["lenet5"]
    assert lenet.inputs == {"image": (1, 1, 32, 32)} and lenet.outputs == {"logits": (1, 10)}
    assert "Conv" in lenet.ops and lenet.macs == 416_520 and lenet.params == 61_706
    assert models_zoo.model_info("lenet5") == lenet  # second call served from the stats cache


def test_sample_inputs_fit_the_model_and_are_seeded():
    a, b = (
        models_zoo.sample_inputs("dit_block", seed=3),
        models_zoo.sample_inputs("dit_block", seed=3),
    )
    assert {k: v.shape for k, v in a.items()} == {
        "latent": (1, 4, 32, 32),
        "conditioning": (1, 256),
    }
    assert all((a[k] == b[k]).all() for k in a)
