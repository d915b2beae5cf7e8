import functools

import pytest

import models_zoo


@pytest.fixture(scope="session")
def zoo():
    """models_zoo.build, memoised for the session: zoo(name, int8) -> ModelProto."""
    return functools.cache(models_zoo.build)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPU_ZOO_CACHE", str(tmp_path / "zoo-cache"))
    return tmp_path / "zoo-cache"
