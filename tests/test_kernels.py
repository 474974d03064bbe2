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
from mlops_nb.core import DataError, MlopsError
from mlops_nb.scaffold import init_project
from mlops_nb.stage_run import run_stage

MLOPS_NB = str(Path(sys.executable).parent / "mlops-nb")

# records what it finds (so a test can say what leaked), then changes everything a stage could change
PROBE = """import os, sys, json, warnings
import pandas as pd, matplotlib, matplotlib.pyplot as plt, numpy as np
import probe_helper
found = {"pid": os.getpid(), "dvc_stage": os.environ.get("DVC_STAGE"), "cwd": os.getcwd(), "leak": "leak" in globals(),
         "env": os.environ.get("MLOPS_NB_PROBE"), "path": "/probe-path" in sys.path, "max_rows": pd.get_option("display.max_rows"),
         "rc": matplotlib.rcParams["lines.linewidth"], "warning_filters": sum("probe" in str(f[1]) for f in warnings.filters),
         "figures": len(plt.get_fignums()), "seterr": np.geterr()["divide"], "helper": probe_helper.VALUE}
json.dump(found, open(os.path.join(root, f"probe-{os.getpid()}-{len(os.listdir(root))}.json"), "w"))
os.makedirs(os.path.join(root, "made_by_stage"), exist_ok=True)
leak = 1
os.environ["MLOPS_NB_PROBE"] = "set by a stage"; sys.path.append("/probe-path"); pd.set_option("display.max_rows", 7)
matplotlib.rcParams["lines.linewidth"] = 9; warnings.filterwarnings("ignore", message="probe"); np.seterr(divide="raise")
plt.ioff(); plt.figure()
os.chdir("/")
print("probe ran")"""
FAIL = """from mlops_nb.core import DataError
raise DataError("probe failure: column 'x' is missing")"""
DIE = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
SLOW = "import time; time.sleep(120)"
STORE = """import mlflow
client = mlflow.MlflowClient(f"sqlite:///{root}/mlflow.db")
print(len(client.search_experiments()))"""


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
    for name, code in (("probe", PROBE), ("broken", FAIL), ("die", DIE), ("slow", SLOW), ("store", STORE)):
        _stage_nb(dest / "nbs" / "pipeline" / f"{name}.ipynb", code)
    (dest / "probe_helper.py").write_text("VALUE = 1\n")
    return dest


@pytest.fixture
def pooled(tmp_path, monkeypatch):
    "A fresh project with the pool on and a short idle timeout; stops every pool it started."
    monkeypatch.setenv(kernels.ENV_SWITCH, "1")
    monkeypatch.setenv(kernels.ENV_IDLE, "30")
    for var in ("DVC_STAGE", kernels.ENV_MAX_STAGES, kernels.ENV_MAX_RSS, "MLOPS_NB_PROBE"): monkeypatch.delenv(var, raising=False)
    # the pool key includes mlops_nb's file times; freeze them so that an edit elsewhere during the test keeps one pool
    monkeypatch.setattr(kernels, "_code_stamp", lambda: ["frozen for the test"])
    roots = []
    def make(name="p"):
        roots.append(_project(tmp_path / name)); return roots[-1]
    yield make
    for r in roots: kernels.stop_pool(r)


def _probes(root: Path) -> list[dict]:
    "What each probe stage found, in the order they ran."
    return [json.loads(p.read_text()) for p in sorted(root.glob("probe-*.json"), key=lambda p: p.stat().st_mtime_ns)]


def _next_kernel(root: Path) -> dict:
    "The kernel the pool will run the next stage on (once the last one is reset or replaced)."
    assert _wait(lambda: (kernels.pool_status(root) or {}).get("kernel")), "the pool has no kernel ready"
    return kernels.pool_status(root)["kernel"]


def test_stages_share_a_warm_kernel_but_no_state(pooled):
    """The first kernel, forked before the zygote imported MLflow, runs the first stage only; its successor, forked with
    everything imported, runs the next stages (no start, imports done), with none of the previous one's state."""
    root = pooled()
    run_stage("probe", root, progress=False)
    second = _next_kernel(root)
    assert second["stages"] == 0 and second["complete"] and second["pid"] != _probes(root)[0]["pid"]
    run_stage("probe", root, progress=False)
    assert _next_kernel(root)["stages"] == 1 and _next_kernel(root)["pid"] == second["pid"]
    (root / "probe_helper.py").write_text("VALUE = 2\n")  # the project's own module changed between the stages
    run_stage("probe", root, progress=False)
    first, before, after = _probes(root)
    assert after["pid"] == before["pid"] != first["pid"], "the second and third stages ran on one kernel"
    fresh = {"leak": False, "env": None, "path": False, "max_rows": 60, "rc": 1.5, "warning_filters": 0, "figures": 0,
             "seterr": "warn", "cwd": str(root)}
    assert {k: before[k] for k in fresh} == fresh
    assert {k: after[k] for k in fresh} == fresh, "a variable, setting or folder of the first stage reached the second"
    assert (before["helper"], after["helper"]) == (1, 2), "the second stage imported the project's changed module afresh"
    st = kernels.pool_status(root)
    assert [(r["stage"], r["status"], r["kernel"], r["nth"]) for r in st["runs"]] == \
        [("probe", "ok", "k1", 1), ("probe", "ok", "k2", 1), ("probe", "ok", "k2", 2)]
    assert st["kernels_started"] == 2
    # the report is papermill's as before: injected parameters, outputs, the cells' own execution counts
    out = nbformat.read(root / "reports" / "notebooks" / "probe.ipynb", as_version=4)
    assert out.cells[1].metadata.tags == ["injected-parameters"] and str(root) in out.cells[1].source
    assert [c.execution_count for c in out.cells if c.cell_type == "code"] == [1, 2, 3]  # counted from 1 on a reused kernel
    assert "probe ran" in out.cells[2].outputs[0]["text"]
    # files and folders a stage makes get the caller's umask, as with a kernel of its own
    mask = os.umask(0o022); os.umask(mask)
    assert stat.S_IMODE((root / "made_by_stage").stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((root / "reports" / "notebooks" / "probe.ipynb").stat().st_mode) == 0o666 & ~mask


@pytest.mark.slow  # a pool and its kernels each (seconds): `make test`, not test-fast
def test_caller_env_reaches_the_kernel(pooled, monkeypatch):
    "DVC_STAGE differs per stage of one `dvc repro`: same pool and kernel, but each stage sees its caller's value."
    root = pooled()
    for stage in ("train", "evaluate"):
        monkeypatch.setenv("DVC_STAGE", stage)
        run_stage("probe", root, progress=False)
    assert len(kernels.pool_status(root)["runs"]) == 2
    assert [d["dvc_stage"] for d in _probes(root)] == ["train", "evaluate"]


@pytest.mark.slow  # a pool and its kernels each (seconds): `make test`, not test-fast
def test_a_failed_stage_replaces_its_kernel(pooled):
    root = pooled()
    run_stage("probe", root, progress=False)
    k1 = _next_kernel(root)
    with pytest.raises(MlopsError, match=r"stage broken failed: probe failure: column 'x' is missing"):
        run_stage("broken", root, progress=False)
    assert (root / "reports" / "notebooks" / "broken.failed.ipynb").exists()
    assert _wait(lambda: not _alive(k1["pid"]), 10), "the kernel of the failed stage was not stopped"
    assert _next_kernel(root)["pid"] != k1["pid"] and kernels.pool_status(root)["runs"][-1]["status"] == "failed"
    run_stage("probe", root, progress=False)
    assert _probes(root)[-1]["pid"] != k1["pid"] and not _probes(root)[-1]["leak"]


def test_checks_fail_without_a_kernel(pooled):
    "A stage that cannot run fails before any kernel, with the library's error class, pool or not."
    root = pooled()
    (root / "params.yaml").write_text((root / "params.yaml").read_text().replace(f"{root.name}.csv", "nowhere.csv"))
    with pytest.raises(DataError, match=r"nowhere\.csv: data file not found"):
        run_stage("prepare", root, progress=False)
    assert kernels.pool_status(root) is None, "a pool was started for a stage that could not run"
    run_stage("probe", root, progress=False)  # starts the pool
    with pytest.raises(DataError, match=r"nowhere\.csv: data file not found"):  # now the pool checks
        run_stage("prepare", root, progress=False)
    with pytest.raises(MlopsError, match=r"no such stage notebook\. Did you mean 'probe'\?"):
        run_stage("prob", root, progress=False)
    st = kernels.pool_status(root)
    # the first kernel and its successor (started when the first was taken); the rejected stages started none
    assert [r["status"] for r in st["runs"]] == ["ok", "rejected", "rejected"] and st["kernels_started"] == 2


@pytest.mark.slow  # a pool and its kernels each (seconds): `make test`, not test-fast
def test_a_kernel_that_dies_is_replaced(pooled):
    root = pooled()
    with pytest.raises(MlopsError, match=r"stage die failed in the kernel pool: DeadKernelError"):
        run_stage("die", root, progress=False)
    assert not (root / "reports" / "notebooks" / "die.ipynb").exists()
    run_stage("probe", root, progress=False)
    st = kernels.pool_status(root)
    assert [r["status"] for r in st["runs"]] == ["failed", "ok"] and st["runs"][0]["pid"] != st["runs"][1]["pid"]


@pytest.mark.slow  # a pool and its kernels each (seconds): `make test`, not test-fast
@pytest.mark.parametrize("cap", ["stages", "memory"])
def test_a_worn_kernel_is_replaced(pooled, monkeypatch, cap):
    if cap == "stages": monkeypatch.setenv(kernels.ENV_MAX_STAGES, "2")
    else: monkeypatch.setenv(kernels.ENV_MAX_RSS, "1")  # every kernel uses more than 1 MB
    root = pooled()
    for _ in range(4): run_stage("probe", root, progress=False)
    pids = [d["pid"] for d in _probes(root)]  # the first kernel serves one stage in any case
    assert (pids[0] != pids[1] == pids[2] != pids[3]) if cap == "stages" else len(set(pids)) == 4


@pytest.mark.slow  # a pool and its kernels each (seconds): `make test`, not test-fast
def test_a_replaced_mlflow_store_is_not_used(pooled):
    "A kernel holds MLflow's store (an SQLAlchemy engine on mlflow.db) open between stages; a new mlflow.db gets a new kernel."
    root = pooled()
    for _ in range(2): run_stage("store", root, progress=False)  # the second on the kernel that stays
    k = _next_kernel(root)
    assert k["stages"] == 1
    (root / "mlflow.db").unlink()
    run_stage("store", root, progress=False)  # MLflow creates its tables in the new file, as for a first stage
    st = kernels.pool_status(root)
    assert [r["status"] for r in st["runs"]] == ["ok", "ok", "ok"] and st["runs"][2]["pid"] != k["pid"]
    out = nbformat.read(root / "reports" / "notebooks" / "store.ipynb", as_version=4)
    stdout = "".join(o["text"] for o in out.cells[2].outputs if o.get("name") == "stdout")
    assert stdout.split() == ["1"], stdout  # the Default experiment of the new store


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


@pytest.mark.slow  # a pool and its kernels each (seconds): `make test`, not test-fast
def test_pool_and_kernels_exit_after_the_idle_timeout(pooled, monkeypatch):
    monkeypatch.setenv(kernels.ENV_IDLE, "2")
    root = pooled()
    run_stage("probe", root, progress=False)
    st = kernels.pool_status(root)
    assert st["idle_timeout"] == 2 and st["pid"] in _pool_processes(root)
    assert _wait(lambda: not _pool_processes(root), 60), f"still running after the idle timeout: {_pool_processes(root)}"
    assert kernels.pool_status(root) is None and not (kernels.pool_dir(root) / "pool.sock").exists()


def _cli(root: Path, *args, **env) -> subprocess.CompletedProcess:
    e = {**os.environ, **env}  # conftest put the venv first on PATH
    return subprocess.run([MLOPS_NB, *args], cwd=root, capture_output=True, text=True, env=e, timeout=600)


def _stop_daemons(root: Path) -> None:
    "SIGTERM the pool daemons of `root` that a subprocess of this test spawned; wait until they and their kernels are gone."
    procs = _pool_processes(root)
    for pid in procs:
        if "mlops_nb.kernels serve" in _cmdline(pid): os.kill(pid, signal.SIGTERM)
    assert _wait(lambda: not any(map(_alive, procs)), 30), "the pool's kernels outlived it"


@pytest.mark.slow  # a pool and its kernels each (seconds): `make test`, not test-fast
def test_a_dead_client_ends_its_stage(pooled):
    "`run-stage` killed (Ctrl-C in `dvc repro`): the pool kills the kernel running its stage, and no report is written."
    root = pooled()
    run_stage("probe", root, progress=False)
    code = ("import sys; from mlops_nb import kernels; kernels._code_stamp = lambda: ['frozen for the test']; "
            "kernels.run_stage('slow', sys.argv[1])")  # the same pool key as this process
    client = subprocess.Popen([sys.executable, "-c", code, str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        running = lambda: [r.get("pid") for r in (kernels.pool_status(root) or {"running": []})["running"]]
        assert _wait(lambda: running() and all(running()), 60), \
            "the slow stage did not start: " + (kernels.pool_dir(root) / "pool.log").read_text()[-3000:]
        pid = running()[0]
        time.sleep(1)
    finally:
        client.kill(); client.wait()
    assert _wait(lambda: not _alive(pid), 15), "the kernel of a dead client kept running"
    assert _wait(lambda: kernels.pool_status(root)["runs"][-1]["status"] == "abandoned", 15)
    assert not (root / "reports" / "notebooks" / "slow.ipynb").exists()
    run_stage("probe", root, progress=False)
    assert _probes(root)[-1]["pid"] not in (pid, _probes(root)[0]["pid"])


@pytest.mark.slow  # a pool and its kernels each (seconds): `make test`, not test-fast
def test_two_projects_two_private_pools(pooled):
    a, b = pooled("a"), pooled("b")
    run_stage("probe", a, progress=False); run_stage("probe", b, progress=False)
    sa, sb = kernels.pool_status(a), kernels.pool_status(b)
    assert sa["pid"] != sb["pid"] and sa["root"] == str(a) and sb["root"] == str(b)
    assert sa["runs"][0]["pid"] != sb["runs"][0]["pid"]
    for root in (a, b):
        d = kernels.pool_dir(root)
        assert d.stat().st_uid == os.getuid() and d.stat().st_mode & 0o777 == 0o700
        assert (d / "pool.sock").stat().st_mode & 0o777 == 0o600
        assert d.parent.stat().st_mode & 0o777 == 0o700
        cf = d / f"{_next_kernel(root)['kernel']}.json"
        conn = json.loads(cf.read_text())  # IPC transport: unix sockets in the private folder, no TCP port
        assert conn["transport"] == "ipc" and conn["ip"].startswith(str(d))
        assert stat.S_IMODE(cf.stat().st_mode) == 0o600


@pytest.mark.slow  # a pool and its kernels each (seconds): `make test`, not test-fast
@pytest.mark.parametrize("pool", ["1", "0"])
def test_no_tcp_warning_and_switch(pooled, pool):
    "Through the console script: IPC, so no TCP warning; MLOPS_NB_KERNEL_POOL=0 starts no pool."
    root = pooled()
    r = _cli(root, "run-stage", "probe", MLOPS_NB_KERNEL_POOL=pool, MLOPS_NB_KERNEL_POOL_IDLE="30")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "stage probe done" in r.stdout and "Executing: 100%" in r.stderr  # papermill's progress bar, from the pool too
    assert "TCP" not in r.stderr and "without encryption" not in r.stderr, r.stderr[-2000:]
    assert "unavailable" not in r.stderr, r.stderr[-2000:]
    procs = _pool_processes(root)
    daemons = [pid for pid in procs if "mlops_nb.kernels serve" in _cmdline(pid)]
    if pool == "1": assert len(daemons) == 1 and len(procs) >= 2  # the pool and its kernel
    else: assert procs == [], "MLOPS_NB_KERNEL_POOL=0 started a pool"
    _stop_daemons(root)  # the pool this test started (the CLI computed its key)


@pytest.mark.slow  # a pool and its kernels each (seconds): `make test`, not test-fast
def test_kernels_end_with_a_killed_pool(pooled):
    "A pool killed outright (SIGKILL: no clean-up) leaves no kernel behind: ipykernel watches its parent."
    root = pooled()
    run_stage("probe", root, progress=False)
    kernel = _next_kernel(root)
    os.kill(kernels.pool_status(root)["pid"], signal.SIGKILL)  # the pool this test started
    assert _wait(lambda: not _alive(kernel["pid"]), 30), "the kernel outlived its pool"


def test_a_runtime_folder_open_to_others_means_no_pool(pooled, tmp_path, monkeypatch, capsys):
    "Sockets and connection files only in a folder private to the user; otherwise the stage runs on its own kernel."
    shared = tmp_path / "run"; (shared / "mlops_nb").mkdir(parents=True)
    os.chmod(shared / "mlops_nb", 0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    root = pooled()
    run_stage("probe", root, progress=False)
    assert "kernel pool unavailable" in capsys.readouterr().err
    assert len(_probes(root)) == 1 and not list((shared / "mlops_nb").iterdir())


@pytest.mark.slow  # a pool and its kernels each (seconds): `make test`, not test-fast
def test_stop_pools_under_a_folder(pooled, tmp_path):
    "stop_pools(folder) ends every pool serving a project inside it (what the test session does at its end), no other."
    a, b = pooled("a"), pooled("b")
    for r in (a, b): run_stage("probe", r, progress=False)
    assert kernels.pool_status(a) and kernels.pool_status(b)
    assert kernels.stop_pools(a) == [str(a)]  # only the pool of the project inside `a`
    assert _wait(lambda: kernels.pool_status(a) is None, 20) and kernels.pool_status(b) is not None
    assert kernels.stop_pools(tmp_path) == [str(b)]
    assert _wait(lambda: kernels.pool_status(b) is None, 20)
