"""Issue #11's hostile inputs through ``python -m npu``, one subprocess each.

Every case of ``hostile_cases.CASES`` must end with exit 2 and exactly one stderr line
``error: ...`` naming the problem, write nothing and change no file (the folder is
snapshotted before and after: kind, size, content, mtime), within the bounds of
``hostile_run``: peak resident memory below 1 GiB and a few seconds of CPU, measured on the
child with ``os.wait4``. ``ACCEPTED`` cases are legal and must succeed within the same bounds.
"""

from __future__ import annotations

import hostile_cases as hc
import hostile_run as hr
import pytest

# cases whose legitimate work is more than a few seconds of CPU (measured on the 2-core
# machine: the 30,000-node chain compiles in about 8 s)
CPU_LIMITS = {"a chain of 30,000 Relus (the DRAM plan was quadratic)": 40.0}


def _run(table: dict, name: str, tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    case = table[name](folder)
    before = hr.snapshot(folder)
    result = hr.run_npu(case.argv, folder, case.env)
    after = hr.snapshot(folder)
    assert result.peak_bytes < hr.PEAK_LIMIT, result.summary()
    assert result.cpu_s < CPU_LIMITS.get(name, hr.CPU_LIMIT), result.summary()
    return case, result, before, after


@pytest.mark.parametrize("name", list(hc.CASES))
def test_hostile_input_is_refused(name, tmp_path):
    case, result, before, after = _run(hc.CASES, name, tmp_path)
    assert result.code == 2, result.summary() + "\n" + result.err[-2000:]
    assert len(result.lines) == 1, result.err
    line = result.lines[0]
    assert line.startswith("error: ") and "Traceback" not in result.err + result.out
    for word in case.words:
        assert word.lower() in line.lower(), f"{word!r} not in {line!r}"
    assert after == before, "a file was written, replaced or removed"


@pytest.mark.parametrize("name", list(hc.ACCEPTED))
def test_odd_but_legal_input_works(name, tmp_path):
    case, result, before, after = _run(hc.ACCEPTED, name, tmp_path)
    assert result.code == 0, result.summary() + "\n" + result.err[-2000:]
    for word in case.words:
        assert word in result.out, f"{word!r} not in the output"
    new = sorted(set(after) - set(before))
    assert new == sorted(case.writes)
    assert {k: v for k, v in after.items() if k in before} == before
