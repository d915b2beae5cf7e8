"""The profile JSON writer takes numpy scalars left in a report's counts as the numbers they
hold (a host partition's counts once reached it as numpy ints), and nothing else."""

import json

import numpy as np
import pytest

from npu import report_json


def test_numpy_scalars_are_written_as_numbers():
    doc = {"macs": np.int64(16), "share": np.float32(0.5), "n": 3}
    text = json.dumps(doc, default=report_json._scalar)
    assert json.loads(text) == {"macs": 16, "share": 0.5, "n": 3}


def test_other_objects_are_still_refused():
    with pytest.raises(TypeError, match="ndarray in a report is not JSON"):
        json.dumps({"x": np.zeros(2)}, default=report_json._scalar)
