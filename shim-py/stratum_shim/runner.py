"""Run a script file the way `python script.py` does: __main__, __file__, sys.argv, sys.path[0],
exit status, uncaught-exception traceback (without the shim's own frames)."""

from __future__ import annotations

import atexit
import io
import os
import sys
import threading
import traceback
import types

_SHIM_DIR = os.path.dirname(os.path.abspath(__file__))


def run_script(path: str, argv: list[str]) -> int:
    """Execute the script in a fresh __main__; returns the process exit status."""
    abspath = os.path.abspath(path)
    main = types.ModuleType("__main__")
    main.__file__ = abspath
    main.__cached__ = None
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(abspath)
    try:
        with io.open_code(abspath) as f:
            source = f.read()
        code = compile(source, abspath, "exec", dont_inherit=True)
        exec(code, main.__dict__)
        status = 0
    except SystemExit as e:
        status = exit_status(e)
    except BaseException as e:  # noqa: BLE001 - exactly what the interpreter would report
        report_uncaught(e)
        status = 1
    return status


def exit_status(e: SystemExit) -> int:
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(f"{code}\n")
    except Exception:
        pass
    return 1


def report_uncaught(e: BaseException) -> None:
    if sys.excepthook is not sys.__excepthook__:
        sys.excepthook(type(e), e, e.__traceback__)
        return
    te = traceback.TracebackException(type(e), e, e.__traceback__, compact=True)
    _strip(te, set())
    sys.stderr.write("".join(te.format()))


def _strip(te: traceback.TracebackException, seen: set) -> None:
    """Drop frames of this runner and of the shim's wrappers, as if the script ran unshimmed."""
    if id(te) in seen:
        return
    seen.add(id(te))
    kept = [fs for fs in te.stack if not fs.filename.startswith(_SHIM_DIR)]
    te.stack = traceback.StackSummary.from_list(kept)
    for sub in (te.__cause__, te.__context__):
        if sub is not None:
            _strip(sub, seen)
    for sub in getattr(te, "exceptions", None) or ():
        _strip(sub, seen)


def finish(status: int) -> None:
    """Shut down like the interpreter does (threads, atexit, flush), then leave at once."""
    try:
        threading._shutdown()
    except Exception:
        pass
    try:
        atexit._run_exitfuncs()
    except Exception:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(status)


def main() -> None:
    """`python -m stratum_shim.runner script.py args...`: run one script under the shim."""
    if len(sys.argv) < 2:
        sys.stderr.write("usage: python -m stratum_shim.runner SCRIPT [ARGS...]\n")
        raise SystemExit(2)
    import stratum_shim

    stratum_shim.activate()
    finish(run_script(sys.argv[1], sys.argv[1:]))


if __name__ == "__main__":
    main()
