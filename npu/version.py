"""The installed package's version, for ``npu --version`` and the reports."""

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    try:
        return version("npu-toolchain")
    except PackageNotFoundError:
        return "unknown"
