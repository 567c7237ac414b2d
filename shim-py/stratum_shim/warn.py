"""warnings.warn that does not see the shim's wrapper frames.

A library warning names a frame by stacklevel (sklearn: the caller of fit; pandas: the first frame
outside pandas). With a patch wrapper in between, that frame would be the wrapper: the warning
would print the wrong file and line, and the default filters (DeprecationWarning shown only in
__main__) would drop it. This version counts levels without the shim's frames.
"""

from __future__ import annotations

import os
import sys
import warnings

_SHIM_DIR = os.path.dirname(os.path.abspath(__file__))
_original = warnings.warn


def _is_shim(frame) -> bool:
    return frame.f_code.co_filename.startswith(_SHIM_DIR)


def warn(message, category=None, stacklevel=1, source=None, **kwargs):
    frame, n, level = sys._getframe(1), 1, 1
    while frame is not None and (level < stacklevel or _is_shim(frame)):
        if not _is_shim(frame):
            level += 1
        frame, n = frame.f_back, n + 1
    if frame is None:  # deeper than the stack: let warnings handle it as it would
        n = stacklevel
    return _original(message, category, n + 1, source, **kwargs)


warn.__stratum_original__ = _original


def install(register) -> None:
    """Replace warnings.warn, and the `warn` that library modules imported by name."""
    register(warnings, "warn")
    warnings.warn = warn
    for name, mod in list(sys.modules.items()):
        if name.partition(".")[0] in ("pandas", "sklearn", "numpy", "scipy") and getattr(mod, "warn", None) is _original:
            register(mod, "warn")
            mod.warn = warn
