"""stratum_shim.runner runs a script as `python script.py` would (in a subprocess: it os._exit()s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

PY = sys.executable
SHIM_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUM_")}
    env["PYTHONPATH"] = SHIM_DIR + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run(tmp_path, source, *args, runner=True, **env):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    cmd = [PY, "-m", "stratum_shim.runner", "script.py", *args] if runner else [PY, "script.py", *args]
    return subprocess.run(cmd, cwd=tmp_path, env=_env(**env), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("traced", [False, True])
def test_main_file_argv(tmp_path, traced):
    env = {"STRATUM_TRACE": str(tmp_path / "t.jsonl")} if traced else {}
    p = run(tmp_path, """
        import json, sys, os
        print(json.dumps({"name": __name__, "file": __file__, "argv": sys.argv,
                          "path0": sys.path[0], "main": sys.modules["__main__"].__dict__ is globals()}))
    """, "a", "--b=1", **env)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["name"] == "__main__"
    assert out["file"] == str(tmp_path / "script.py") and os.path.isabs(out["file"])
    assert out["argv"] == ["script.py", "a", "--b=1"]
    assert out["path0"] == str(tmp_path)
    assert out["main"] is True


@pytest.mark.parametrize("body, code, err", [
    ("pass", 0, ""),
    ("import sys; sys.exit()", 0, ""),
    ("import sys; sys.exit(0)", 0, ""),
    ("import sys; sys.exit(3)", 3, ""),
    ("raise SystemExit(256 + 7)", 7, ""),
    ("import sys; sys.exit('bad input')", 1, "bad input\n"),
])
def test_exit_status(tmp_path, body, code, err):
    p = run(tmp_path, body)
    assert p.returncode == code, p.stderr
    assert p.stderr == err
    plain = run(tmp_path, body, runner=False)
    assert (plain.returncode, plain.stderr) == (p.returncode, p.stderr)


def test_uncaught_exception_traceback_has_no_shim_frames(tmp_path):
    src = """
        import pandas as pd
        def inner(df):
            return df["missing"]
        df = pd.DataFrame({"a": [1, 2]}).head()
        print("before", flush=True)
        inner(df)
    """
    p = run(tmp_path, src, STRATUM_TRACE=str(tmp_path / "t.jsonl"))
    assert p.returncode == 1
    assert p.stdout == "before\n"
    assert "Traceback (most recent call last):" in p.stderr
    assert p.stderr.rstrip().splitlines()[-1] == "KeyError: 'missing'"
    assert "stratum_shim" not in p.stderr
    assert 'script.py", line 7, in <module>' in p.stderr and 'line 4, in inner' in p.stderr
    # the same frames as under plain python
    plain = run(tmp_path, src, runner=False)
    assert plain.returncode == 1

    def frames(text):
        return [line.strip() for line in text.splitlines() if line.strip().startswith("File ")]

    assert frames(p.stderr) == frames(plain.stderr)
    assert p.stderr.splitlines()[-1] == plain.stderr.splitlines()[-1]
    # the trace is flushed at exit even after an uncaught exception
    assert '"DataFrame.head"' in (tmp_path / "t.jsonl").read_text()


def test_exception_chain_and_atexit(tmp_path):
    p = run(tmp_path, """
        import atexit
        atexit.register(lambda: print("bye"))
        try:
            1 / 0
        except ZeroDivisionError as e:
            raise ValueError("wrapped") from e
    """)
    assert p.returncode == 1
    assert "ZeroDivisionError" in p.stderr and "ValueError: wrapped" in p.stderr
    assert "direct cause" in p.stderr
    assert "stratum_shim" not in p.stderr
    assert p.stdout == "bye\n"


def test_output_identical_to_plain_python(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,c\n" + "".join(f"{i},{i * 0.37:.3f},{'xyz'[i % 3]}\n" for i in range(60)))
    src = """
        import stratum_shim
        import numpy as np, pandas as pd
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split, cross_val_score
        from sklearn.metrics import accuracy_score
        df = pd.read_csv("d.csv")
        df["d"] = df["a"] * df["b"]
        df.loc[df["c"] == "x", "b"] = 0.5
        print(df.groupby("c").agg(["mean", "sum"]).to_string())
        print(df.describe().to_string())
        X, y = df[["a", "b", "d"]], (df["c"] == "y").astype(int)
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
        m = make_pipeline(StandardScaler(), LogisticRegression()).fit(Xtr, ytr)
        print(repr(m.predict_proba(Xte).tolist()))
        print(repr(accuracy_score(yte, m.predict(Xte))))
        print(repr(cross_val_score(LogisticRegression(), X, y, cv=3).tolist()))
    """
    trace = tmp_path / "t.jsonl"
    shim = run(tmp_path, src, STRATUM_TRACE=str(trace))
    plain = run(tmp_path, src, runner=False)
    assert shim.returncode == plain.returncode == 0, shim.stderr + plain.stderr
    assert shim.stdout == plain.stdout
    assert shim.stderr == plain.stderr == ""
    ops = [json.loads(line)["op"] for line in trace.read_text().splitlines()]
    assert "pd.read_csv" in ops and "Pipeline.fit" in ops and "sklearn.cross_val_score" in ops
    assert "StandardScaler.fit" not in ops  # inside Pipeline.fit


def test_usage(tmp_path):
    p = subprocess.run([PY, "-m", "stratum_shim.runner"], env=_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "usage" in p.stderr
