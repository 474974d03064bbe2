"""The kernel pool behind `run-stage` (mlops_nb.kernels): behaviour only, timings are in bench/pipeline_bench.py.

A tiny project (`init_project --no-git`) with probe stage notebooks; each test stops the pools it started.
"""
from __future__ import annotations
import json, os, signal, stat, subprocess, sys, time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from mlops_nb import kernels
from mlops_nb.core import MlopsError
from mlops_nb.project import init_project, run_stage

MLOPS_NB = str(Path(sys.executable).parent / "mlops-nb")

PROBE = """import os, json
assert "leak" not in globals(), "a variable of an earlier stage is visible"
leak = 1
json.dump({"pid": os.getpid(), "dvc_stage": os.environ.get("DVC_STAGE"), "cwd": os.getcwd()},
          open(os.path.join(root, f"probe-{os.getpid()}.json"), "w"))
print("probe ran")"""
FAIL = """from mlops_nb.core import DataError
raise DataError("probe failure: column 'x' is missing")"""


def _stage_nb(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}})
    params = nbformat.v4.new_code_cell('root = "."'); params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)


def _alive(pid: int) -> bool:
    try: os.kill(pid, 0)
    except ProcessLookupError: return False
    try:  # a zombie is not running
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError): return False


def _wait(cond, timeout=60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond(): return True
        time.sleep(0.1)
    return cond()


def _project(dest: Path) -> Path:
    data = dest.parent / f"{dest.name}.csv"
    n = 200
    pd.DataFrame({"age": range(n), "plan": ["a", "b"] * (n // 2), "y": ["yes", "no", "no", "yes"] * (n // 4)}).to_csv(data, index=False)
    init_project(dest, data, "y", git=False)
    for name, code in (("probe", PROBE), ("broken", FAIL)): _stage_nb(dest / "nbs" / "pipeline" / f"{name}.ipynb", code)
    return dest


@pytest.fixture
def pooled(tmp_path, monkeypatch):
    "A fresh project with the pool on and a short idle timeout; stops every pool it started."
    monkeypatch.setenv(kernels.ENV_SWITCH, "1")
    monkeypatch.setenv(kernels.ENV_IDLE, "30")
    monkeypatch.delenv("DVC_STAGE", raising=False)
    # the pool key includes mlops_nb's file times; freeze them so that an edit elsewhere during the test keeps one pool
    monkeypatch.setattr(kernels, "_code_stamp", lambda: ["frozen for the test"])
    roots = []
    def make(name="p"):
        roots.append(_project(tmp_path / name)); return roots[-1]
    yield make
    for r in roots: kernels.stop_pool(r)


def _probes(root: Path) -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in root.glob("probe-*.json")), key=lambda d: d["pid"])


def test_second_stage_gets_a_prestarted_fresh_kernel(pooled):
    root = pooled()
    run_stage("probe", root, progress=False)
    assert _wait(lambda: (kernels.pool_status(root) or {}).get("spare")), "after the first stage the pool keeps a spare kernel"
    st = kernels.pool_status(root)
    spare = st["spare"]
    assert _wait(lambda: not _alive(st["leases"][0]["pid"]), 10), "the first stage's kernel was not shut down"
    run_stage("probe", root, progress=False)
    st = kernels.pool_status(root)
    first, second = st["leases"]
    assert second["pid"] == spare["pid"] and second["started"] < second["ready"] <= second["requested"], \
        "the second stage got the kernel that was started and ready before it asked"
    assert first["pid"] != second["pid"], "every stage gets its own kernel"
    assert second["preload"] == "ok"
    ran = [d["pid"] for d in _probes(root)]
    assert ran == sorted([first["pid"], second["pid"]]), "the notebooks ran in the leased kernels"
    assert all(d["cwd"] == str(root) for d in _probes(root))
    # the report is papermill's as before: injected parameters, outputs, the cells' own execution counts
    out = nbformat.read(root / "reports" / "notebooks" / "probe.ipynb", as_version=4)
    assert out.cells[1].metadata.tags == ["injected-parameters"] and str(root) in out.cells[1].source
    assert [c.execution_count for c in out.cells if c.cell_type == "code"] == [1, 2, 3]
    assert "probe ran" in out.cells[2].outputs[0]["text"]
    assert _wait(lambda: kernels.pool_status(root)["leases_open"] == 0, 10)


def test_caller_env_reaches_the_leased_kernel(pooled, monkeypatch):
    "DVC_STAGE differs per stage of one `dvc repro`: same pool, but each kernel sees its caller's value."
    root = pooled()
    for stage in ("train", "evaluate"):
        monkeypatch.setenv("DVC_STAGE", stage)
        run_stage("probe", root, progress=False)
    assert len(kernels.pool_status(root)["leases"]) == 2
    assert sorted(d["dvc_stage"] for d in _probes(root)) == ["evaluate", "train"]


def test_error_in_a_pooled_stage_surfaces_and_releases_the_kernel(pooled):
    root = pooled()
    with pytest.raises(MlopsError, match=r"stage broken failed: probe failure: column 'x' is missing"):
        run_stage("broken", root, progress=False)
    assert (root / "reports" / "notebooks" / "broken.failed.ipynb").exists()
    st = kernels.pool_status(root)
    assert _wait(lambda: not _alive(st["leases"][0]["pid"]), 10)
    assert _wait(lambda: kernels.pool_status(root)["leases_open"] == 0, 10)


def _cmdline(pid) -> str:
    try: return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError: return ""

def _ppid(pid) -> int:
    try: return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError): return -1

def _pool_processes(root: Path) -> list[int]:
    "Pids of the pool daemons of `root`, their children, and every process with files in its pool folder."
    folder = str(kernels.pool_dir(root))
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    daemons = {p for p in pids if f"mlops_nb.kernels serve {root} " in _cmdline(p) + " "}
    return [p for p in pids if _alive(p) and (p in daemons or _ppid(p) in daemons or folder in _cmdline(p))]


def test_pool_and_kernels_exit_after_the_idle_timeout(pooled, monkeypatch):
    monkeypatch.setenv(kernels.ENV_IDLE, "2")
    root = pooled()
    run_stage("probe", root, progress=False)
    st = kernels.pool_status(root)
    assert st["idle_timeout"] == 2 and st["pid"] in _pool_processes(root)
    assert _wait(lambda: not _pool_processes(root), 60), f"still running after the idle timeout: {_pool_processes(root)}"
    assert kernels.pool_status(root) is None and not (kernels.pool_dir(root) / "pool.sock").exists()


def test_a_dead_client_releases_its_kernel(pooled):
    root = pooled()
    code = ("import sys, os; from mlops_nb import kernels; l = kernels.lease(sys.argv[1]); print(l.pid, flush=True); "
            "os._exit(0)")  # no close(): the process just ends
    r = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, timeout=300)
    pid = int(r.stdout.split()[0])
    assert _wait(lambda: not _alive(pid), 15), "the kernel of a dead client kept running"
    _stop_daemons(root)  # that process computed its own pool key (mlops_nb's real file times)


def _stop_daemons(root: Path) -> None:
    "SIGTERM the pool daemons of `root` that a subprocess of this test spawned; wait until they and their kernels are gone."
    procs = _pool_processes(root)
    for pid in procs:
        if "mlops_nb.kernels serve" in _cmdline(pid): os.kill(pid, signal.SIGTERM)
    assert _wait(lambda: not any(map(_alive, procs)), 30), "the pool's kernels outlived it"


def test_two_projects_two_private_pools(pooled):
    a, b = pooled("a"), pooled("b")
    run_stage("probe", a, progress=False); run_stage("probe", b, progress=False)
    sa, sb = kernels.pool_status(a), kernels.pool_status(b)
    assert sa["pid"] != sb["pid"] and sa["root"] == str(a) and sb["root"] == str(b)
    assert {l["pid"] for l in sa["leases"]}.isdisjoint(l["pid"] for l in sb["leases"])
    for root in (a, b):
        d = kernels.pool_dir(root)
        assert d.stat().st_uid == os.getuid() and d.stat().st_mode & 0o777 == 0o700
        assert (d / "pool.sock").stat().st_mode & 0o777 == 0o600
        assert d.parent.stat().st_mode & 0o777 == 0o700
    with kernels.lease(a) as l:  # IPC transport: unix sockets in the private folder, no TCP port
        assert l.connection["transport"] == "ipc" and l.connection["ip"].startswith(str(kernels.pool_dir(a)))


def _cli(root: Path, *args, **env) -> subprocess.CompletedProcess:
    e = {**os.environ, **env}  # conftest put the venv first on PATH
    return subprocess.run([MLOPS_NB, *args], cwd=root, capture_output=True, text=True, env=e, timeout=600)


@pytest.mark.parametrize("pool", ["1", "0"])
def test_no_tcp_warning_and_switch(pooled, pool):
    "Through the console script: IPC, so no TCP warning; MLOPS_NB_KERNEL_POOL=0 starts no pool."
    root = pooled()
    r = _cli(root, "run-stage", "probe", MLOPS_NB_KERNEL_POOL=pool, MLOPS_NB_KERNEL_POOL_IDLE="30")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "stage probe done" in r.stdout
    assert "TCP" not in r.stderr and "without encryption" not in r.stderr, r.stderr[-2000:]
    assert "unavailable" not in r.stderr, r.stderr[-2000:]
    procs = _pool_processes(root)
    daemons = [pid for pid in procs if "mlops_nb.kernels serve" in _cmdline(pid)]
    if pool == "1": assert len(daemons) == 1 and len(procs) >= 2  # the pool and its spare kernel
    else: assert procs == [], "MLOPS_NB_KERNEL_POOL=0 started a pool"
    _stop_daemons(root)  # the pool this test started (the CLI computed its key)


def test_kernels_end_with_a_killed_pool(pooled):
    "A pool killed outright (SIGKILL: no clean-up) leaves no kernel behind: ipykernel watches its parent."
    root = pooled()
    run_stage("probe", root, progress=False)
    assert _wait(lambda: (kernels.pool_status(root) or {}).get("spare"))
    st = kernels.pool_status(root)
    os.kill(st["pid"], signal.SIGKILL)  # the pool this test started
    assert _wait(lambda: not _alive(st["spare"]["pid"]), 30), "the spare kernel outlived its pool"


def test_a_runtime_folder_open_to_others_means_no_pool(pooled, tmp_path, monkeypatch, capsys):
    "Sockets and connection files only in a folder private to the user; otherwise the stage runs on its own kernel."
    shared = tmp_path / "run"; (shared / "mlops_nb").mkdir(parents=True)
    os.chmod(shared / "mlops_nb", 0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    root = pooled()
    run_stage("probe", root, progress=False)
    assert "kernel pool unavailable" in capsys.readouterr().err
    assert len(_probes(root)) == 1 and not list((shared / "mlops_nb").iterdir())


def test_stop_pools_under_a_folder(pooled, tmp_path):
    "stop_pools(folder) ends every pool serving a project inside it (what the test session does at its end), no other."
    a, b = pooled("a"), pooled("b")
    for r in (a, b): run_stage("probe", r, progress=False)
    assert kernels.pool_status(a) and kernels.pool_status(b)
    assert kernels.stop_pools(a) == [str(a)]  # only the pool of the project inside `a`
    assert _wait(lambda: kernels.pool_status(a) is None, 20) and kernels.pool_status(b) is not None
    assert kernels.stop_pools(tmp_path) == [str(b)]
    assert _wait(lambda: kernels.pool_status(b) is None, 20)
