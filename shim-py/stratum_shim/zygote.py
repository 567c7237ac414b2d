"""The warm worker: imports pandas and scikit-learn once, then forks one child per script.

Protocol on stdin/stdout, one JSON object per line:
  in:  {"cmd": "run", "id", "script", "argv", "cwd", "env", "stdout", "stderr", "socket", "store", "script_id"}
       {"cmd": "exit"}
  out: {"event": "ready", "pid", "preload_s"} {"event": "started", "id", "pid"}
       {"event": "exit", "id", "code", "signal"} {"event": "error", "id", "message"}
Fork only from here: this process has imported but never computed, so no OpenMP or BLAS thread
pool exists that a child could inherit half-started.
"""

from __future__ import annotations

import gc
import json
import os
import select
import sys
import time

os.environ["STRATUM_ZYGOTE"] = "1"


def preload() -> float:
    t0 = time.perf_counter()
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import pyarrow.ipc  # noqa: F401
    import pyarrow.pandas_compat  # noqa: F401
    import pyarrow.parquet  # noqa: F401  (read_parquet, and the shim's check of Parquet results)

    from . import patches, runner  # noqa: F401  (runner: every script needs it; imported here,
    # it does not count as an import since cores.discover, which would make limit() look again)

    patches.install()
    _warm()
    from . import cores

    cores.discover()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - t0


def _warm() -> None:
    """Lazy one-time work that every script would otherwise repeat after the fork: sklearn's
    first input validation discovers narwhals' plugins (importlib entry points, ~8 ms), which
    made a script's first traced sklearn call ~10x slower than in plain python (4 ms)."""
    import numpy as np
    import pandas as pd
    from sklearn.utils.multiclass import type_of_target
    from sklearn.utils.validation import check_array

    check_array(np.zeros((2, 2)))
    check_array(pd.DataFrame({"a": [0.0, 1.0]}))
    type_of_target(np.array([0, 1]))
    _warm_results()


def _warm_results() -> None:
    """The store's hand-offs once, on a small frame: Arrow IPC -> frame (read_csv and the
    published results) and a Parquet table -> frame (read_parquet). Their first call in a
    process sets up pyarrow's pandas compatibility layer and pandas' extension dtypes; after the
    fork each script paid it again on its first store hit (read_parquet's: ~15.8 -> ~11 ms)."""
    import shutil
    import tempfile

    import pandas as pd
    import pyarrow.parquet as pq

    from . import bridge, store

    df = pd.DataFrame({"i": [1, 2], "f": [0.5, None], "s": ["a", None], "d": pd.to_datetime(["2024-01-01", None])})
    tmp = tempfile.mkdtemp(prefix="stratum-warm-")
    try:
        parquet = os.path.join(tmp, "w.parquet")
        df.to_parquet(parquet)
        bridge.parquet_table_to_frame(store.load(_ipc_of(pq.read_table(parquet, use_pandas_metadata=True), tmp), "arrow-table"), parquet)
        path, fmt, _ = store.publish(tmp, "w", df)
        store.load(path, fmt)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        bridge._regions.clear()


def _ipc_of(table, folder: str) -> str:
    from . import bridge

    path = os.path.join(folder, "t.arrow")
    bridge.write_table(table, path)
    return path


def emit(out, obj) -> None:
    out.write(json.dumps(obj) + "\n")
    out.flush()


def child(cmd: dict) -> None:
    """In the forked child: become the script's process, run it, never return."""
    status = 1
    try:
        os.setsid()
        fd_in = os.open(os.devnull, os.O_RDONLY)
        fd_out = os.open(cmd["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        fd_err = os.open(cmd["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd_in, 0)
        os.dup2(fd_out, 1)
        os.dup2(fd_err, 2)
        for fd in (fd_in, fd_out, fd_err):
            os.close(fd)
        os.chdir(cmd["cwd"])
        os.environ.clear()
        os.environ.update(cmd["env"])
        import random

        import numpy as np

        np.random.seed()  # a fresh process would have a fresh global seed
        random.seed()
        if cmd.get("threads"):
            from . import cores

            cores.limit(int(cmd["threads"]))
            if cmd.get("store"):
                cores.watch(cmd["store"])
        import stratum_shim
        from . import runner

        stratum_shim.activate(socket_path=cmd.get("socket"), script_id=cmd.get("script_id"), store_dir=cmd.get("store"))
        profile_dir = os.environ.get("STRATUM_PROFILE")
        if profile_dir:  # developers: one cProfile file per script, shim and script together
            import cProfile

            prof = cProfile.Profile()
            status = prof.runcall(runner.run_script, cmd["script"], cmd["argv"])
            prof.dump_stats(os.path.join(profile_dir, f"{cmd.get('script_id') or os.getpid()}.prof"))
        else:
            status = runner.run_script(cmd["script"], cmd["argv"])
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    from . import runner

    runner.finish(status)


def main() -> None:
    out = sys.stdout
    preload_s = preload()
    emit(out, {"event": "ready", "pid": os.getpid(), "preload_s": round(preload_s, 3)})
    running: dict[int, str] = {}
    stdin = sys.stdin.buffer
    buf = b""
    while True:
        ready, _, _ = select.select([stdin], [], [], 0.02)
        if ready:
            chunk = os.read(stdin.fileno(), 1 << 16)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                try:
                    cmd = json.loads(line)
                except ValueError as e:
                    emit(out, {"event": "error", "id": None, "message": f"bad command: {e}"})
                    continue
                if cmd.get("cmd") == "exit":
                    return
                if cmd.get("cmd") == "run":
                    sys.stdout.flush()
                    sys.stderr.flush()
                    try:
                        pid = os.fork()
                    except OSError as e:
                        emit(out, {"event": "error", "id": cmd.get("id"), "message": f"fork failed: {e}"})
                        continue
                    if pid == 0:
                        child(cmd)
                    running[pid] = cmd["id"]
                    emit(out, {"event": "started", "id": cmd["id"], "pid": pid})
        while running:
            try:
                pid, wstatus, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            rid = running.pop(pid, None)
            if rid is None:
                continue
            cpu = {"cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "sys_s": round(usage.ru_stime, 3), "minflt": usage.ru_minflt}
            if os.WIFSIGNALED(wstatus):
                emit(out, {"event": "exit", "id": rid, "code": None, "signal": os.WTERMSIG(wstatus), **cpu})
            else:
                emit(out, {"event": "exit", "id": rid, "code": os.WEXITSTATUS(wstatus), "signal": None, **cpu})

if __name__ == "__main__":
    main()
