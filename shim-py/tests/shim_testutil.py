"""Helpers the shim tests import (conftest.py is not importable by name: two test roots have one)."""

from stratum_shim import lid as L


def lid(obj):
    out = L.tracked_lid(obj)
    assert out is not None, f"{type(obj).__name__} has no LID"
    return out
