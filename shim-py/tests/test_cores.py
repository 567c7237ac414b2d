"""A script's share of the cores: joblib worker counts are clamped, results do not change."""
import subprocess
import sys
import textwrap


def run_py(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_joblib_workers_are_clamped_to_the_share():
    out = run_py(
        """
        import joblib
        from stratum_shim import cores
        def eff(**kw):
            return joblib.Parallel(**kw)._effective_n_jobs()
        cores.limit(1)
        print(eff(n_jobs=-1), eff(n_jobs=2, prefer="threads"), eff(n_jobs=3, backend="multiprocessing"), eff(n_jobs=1))
        cores.limit(2)
        print(eff(n_jobs=-1), eff(n_jobs=4, prefer="threads"), eff(n_jobs=1))
        with joblib.parallel_config(n_jobs=8):
            print(eff())
        """
    )
    assert out.split("\n")[:3] == ["1 1 1 1", "2 2 1", "2"]


def test_clamped_forests_and_searches_give_the_same_results():
    out = run_py(
        """
        import numpy as np
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.model_selection import GridSearchCV
        rng = np.random.default_rng(0)
        X = rng.normal(size=(600, 5)); y = (X[:, 0] + rng.normal(size=600) > 0).astype(int)
        def run():
            rf = RandomForestClassifier(n_estimators=20, random_state=3, n_jobs=-1).fit(X, y)
            gs = GridSearchCV(RandomForestClassifier(n_estimators=10, random_state=3), {"max_depth": [2, 4]}, cv=3, n_jobs=-1).fit(X, y)
            return rf.predict_proba(X).tobytes() + repr(gs.cv_results_["mean_test_score"].tolist()).encode()
        free = run()
        from stratum_shim import cores
        cores.limit(1)
        print(run() == free)
        """
    )
    assert out.strip() == "True"


def test_the_share_follows_the_coordinators_grant(tmp_path):
    grant = tmp_path / "cores"
    grant.write_bytes(bytes([1]))
    out = run_py(
        f"""
        import joblib
        from threadpoolctl import threadpool_info
        from stratum_shim import cores
        cores.limit(1)
        cores.watch({str(tmp_path)!r})
        cores.refresh()
        print(joblib.Parallel(n_jobs=-1)._effective_n_jobs())
        open({str(grant)!r}, "r+b").write(bytes([2]))
        cores.refresh()
        print(joblib.Parallel(n_jobs=-1)._effective_n_jobs(), {{i["num_threads"] for i in threadpool_info()}})
        """
    )
    assert out.split("\n")[:2] == ["1", "2 {2}"]


def test_the_pools_found_once_are_reused_until_a_pool_library_loads():
    out = run_py(
        """
        from threadpoolctl import threadpool_info
        from stratum_shim import cores
        cores.discover()
        found = cores._controller
        import sklearn.metrics, json  # more extension modules, no new pool library
        cores.limit(1)
        cores.limit(2)
        print(cores._controller is found, {i["num_threads"] for i in threadpool_info()})
        reads = []
        native_key = cores._native_key
        cores._native_key = lambda: reads.append(1) or native_key()
        cores.limit(1)  # no module imported since: the mapped libraries are not read again
        print(cores._controller is found, len(reads))
        cores._controller_key = frozenset()  # as if a pool library had loaded since ...
        import colorsys  # ... with an import
        cores.limit(2)
        print(cores._controller is found, {i["num_threads"] for i in threadpool_info()}, len(reads))
        """
    )
    assert out.split("\n")[:3] == ["True {2}", "True 0", "False {2} 1"]
