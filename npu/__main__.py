"""``python -m npu`` is the ``npu`` command."""

from npu.cli import main

raise SystemExit(main())
