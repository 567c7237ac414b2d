import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "runtime-rs" / "node" / "stratum_runtime.node"
KERNEL = ROOT / "scripts" / "kernel.js"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a slow test (still run in CI)")


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.filterwarnings("error"))


@pytest.fixture(scope="session")
def bridge():
    # loaded by path so that the test does not import (and patch with) the rest of the shim
    path = ROOT / "shim-py" / "stratum_shim" / "bridge.py"
    spec = importlib.util.spec_from_file_location("stratum_bridge_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _source_kernel(name):
    if not ADDON.exists():
        pytest.fail(f"{ADDON} is missing: run `node scripts/build-rust.js` first")

    def run(in_path, out_path, options=None):
        args = ["node", str(KERNEL), name, str(in_path), str(out_path)]
        if options is not None:
            args.append(json.dumps(options))
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            return {"status": "error", "code": proc.returncode, "message": proc.stderr.strip()}
        return json.loads(proc.stdout)

    return run


@pytest.fixture(scope="session")
def kernel():
    """The read_csv kernel: run(csv, out, options) -> its outcome."""
    return _source_kernel("readCsv")


@pytest.fixture(scope="session")
def parquet_kernel():
    """The read_parquet kernel: run(parquet, out, options) -> its outcome."""
    return _source_kernel("readParquet")
