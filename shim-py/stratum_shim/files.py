"""Which files a script writes (the coordinator reports two scripts writing the same path)."""

from __future__ import annotations

import functools
import os

_WRITE_MODES = frozenset("wax+")
_seen: set[str] = set()


def make_open(original):
    @functools.wraps(original)
    def open_(file, mode="r", *args, **kwargs):
        f = original(file, mode, *args, **kwargs)
        if isinstance(mode, str) and _WRITE_MODES.intersection(mode) and isinstance(file, (str, bytes, os.PathLike)):
            try:
                _note(os.path.realpath(os.fsdecode(file)))
            except Exception:
                pass
        return f

    open_.__stratum_original__ = original
    return open_


def _note(path: str) -> None:
    from .dispatch import RT

    if path in _seen or RT.sink is None:
        return
    if RT.store_dir and path.startswith(RT.store_dir):
        return
    _seen.add(path)
    RT.sink.record({"op": "write_file", "path": path, "script": RT.script_id})
