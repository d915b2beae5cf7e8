# The fixture comes from the package's pytest11 entry point; importing it here too keeps these
# tests running in a virtualenv installed before the entry point existed (pip install -e .
# registers it).
from npu.regress.pytest_plugin import npu_regress  # noqa: F401
