"""stratum shim: `import stratum_shim` at the top of a pandas/scikit-learn script.

Standalone (no coordinator, no STRATUM_TRACE) it does nothing at all: the script runs exactly as
without it. With STRATUM_TRACE=path it records one JSON op record per line. Under the
coordinator (STRATUM_SOCKET set) it sends op records and shares expensive results by LID.
"""

from __future__ import annotations

import atexit
import os
import sys

__version__ = "0.1.0"


def activate(socket_path: str | None = None, trace_path: str | None = None, script_id: str | None = None,
             store_dir: str | None = None) -> bool:
    """Install the patches and connect the sink. Returns False when there is nothing to do."""
    from . import patches
    from .client import Client, TraceFile
    from .dispatch import RT

    socket_path = socket_path or os.environ.get("STRATUM_SOCKET")
    trace_path = trace_path or os.environ.get("STRATUM_TRACE")
    if not socket_path and not trace_path:
        return False
    patches.install()
    RT.script_id = script_id or os.environ.get("STRATUM_SCRIPT_ID") or os.path.basename(sys.argv[0] or "") or str(os.getpid())
    RT.store_dir = store_dir or os.environ.get("STRATUM_STORE")
    if socket_path:
        RT.client = RT.sink = Client(socket_path, RT.script_id)
    else:
        RT.sink = TraceFile(trace_path, RT.script_id)
    atexit.register(deactivate)
    return True


def deactivate() -> None:
    """Flush and close the sink; patches stay installed but pass calls straight through."""
    from . import prefix, store
    from .dispatch import RT

    try:
        store.drain()  # results still being written are announced on this connection
    except Exception:
        pass
    sink, RT.sink, RT.client = RT.sink, None, None
    if sink is not None:
        try:
            summary = prefix.summary(RT.script_id)
            if summary is not None:
                sink.record(summary)
            sink.close()
        except Exception:
            pass


if os.environ.get("STRATUM_ZYGOTE") != "1":
    activate()
