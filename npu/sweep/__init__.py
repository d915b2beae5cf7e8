"""Co-design sweeps: many hardware configs, each compiled and simulated on every model.

``npu.sweep.run(models, db=..., grid=[...])`` returns a ``Table``; ``npu sweep`` is the
command (``npu.sweep_cmd``). See docs/codesign.md.
"""

from npu.sweep.runner import run
from npu.sweep.table import Table

__all__ = ["Table", "run"]
