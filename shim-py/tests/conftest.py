"""Shared fixtures: every test leaves the shim deactivated and uninstalled."""

from __future__ import annotations

import json
import os

# `import stratum_shim` activates from the environment: never let an outer stratum run leak in.
for _var in ("STRATUM_SOCKET", "STRATUM_TRACE", "STRATUM_SCRIPT_ID", "STRATUM_STORE", "STRATUM_ZYGOTE"):
    os.environ.pop(_var, None)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import stratum_shim  # noqa: E402
from stratum_shim import lid as L  # noqa: E402
from stratum_shim import patches  # noqa: E402
from stratum_shim.dispatch import RT  # noqa: E402


class Trace:
    """The trace file of an active shim, read back as records."""

    def __init__(self, path):
        self.path = path

    def records(self) -> list[dict]:
        RT.sink.flush()
        with open(self.path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def ops(self) -> list[str]:
        return [r["op"] for r in self.records()]

    def last(self, op: str | None = None) -> dict:
        """The last record of op; ".name" matches any class's method (methods are patched on the
        class that defines them, e.g. LinearClassifierMixin.predict)."""
        recs = [r for r in self.records() if op is None or r["op"] == op or op.startswith(".") and r["op"].endswith(op)]
        assert recs, f"no record for {op}"
        return recs[-1]

    def mark(self) -> int:
        return len(self.records())

    def since(self, mark: int) -> list[dict]:
        return self.records()[mark:]


def _teardown():
    stratum_shim.deactivate()
    patches.uninstall()


@pytest.fixture
def trace(tmp_path):
    """Patches installed and a TraceFile sink active."""
    assert patches.installed_count() == 0, "a previous test leaked installed patches"
    path = tmp_path / "trace.jsonl"
    try:
        assert stratum_shim.activate(trace_path=str(path), script_id="test")
        yield Trace(path)
    finally:
        _teardown()
    assert patches.installed_count() == 0


@pytest.fixture
def installed():
    """Patches installed, no sink (calls pass straight through)."""
    assert patches.installed_count() == 0
    try:
        patches.install()
        yield
    finally:
        _teardown()


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,c,g\n1,2.5,x,1\n3,4.5,y,2\n5,6.5,x,1\n7,8.5,z,2\n9,1.5,x,1\n")
    return path


@pytest.fixture
def xy():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


@pytest.fixture
def frame():
    return pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]})
