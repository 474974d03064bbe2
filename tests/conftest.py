"""Shared fixtures: a quiet environment, the venv's tools on PATH, and temporary projects."""
import os, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", DVC_NO_ANALYTICS="1", MPLBACKEND="Agg",
                  MLOPS_NB_KERNEL_POOL_IDLE="10")  # a pool per test project: let each go soon after its last stage
os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"
for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):  # tests choose their own store
    os.environ.pop(var, None)

GIT_ID = ["-c", "user.name=mlops-nb-tests", "-c", "user.email=tests@mlops-nb.invalid"]


@pytest.fixture(scope="session", autouse=True)
def _stop_kernel_pools(tmp_path_factory):
    "Stages in test projects start kernel pools (mlops_nb.kernels); stop those serving this session's folders at its end."
    yield
    from mlops_nb.kernels import stop_pools
    stop_pools(tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def _no_store_leak():
    "mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI to os.environ: never let one test's store reach the next one."
    yield
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"): os.environ.pop(var, None)


def clean_env(**extra) -> dict:
    "The environment without any MLflow store variable (each project's settings.ini decides), plus `extra`."
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    return {**env, **extra}


def run(cmd, cwd, check=True, env=None, timeout=600):
    "Run a command in a clean environment; on failure show its output in the assertion."
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env or clean_env(), timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}")
    return r


def copy_demo_project(dest: Path) -> Path:
    "The repository's demo project (tracked files only, no run state) as a fresh git repo in `dest`, as `make demo` makes it."
    sys.path.insert(0, str(REPO / "tools"))
    try: from demo_workspace import copy_demo_project as copy
    finally: sys.path.remove(str(REPO / "tools"))
    return copy(dest, GIT_ID)


def pytest_configure(config):
    for name, what in (("slow", "builds or reruns a whole pipeline (dvc repro, papermill kernels) or starts kernel pools: seconds to minutes"),
                       ("browser", "drives Debian chromium against a Voila server"),
                       ("server", "needs the PostgreSQL-backed MLflow server that .ci/run starts")):
        config.addinivalue_line("markers", f"{name}: {what}")


@pytest.fixture(scope="session")
def built_demo(tmp_path_factory) -> Path:
    """The demo project (roles.yaml included) after one `dvc repro`: built once per test session.

    Read it, never change it: a test that changes a project works on `copy_built(built_demo, tmp_path)`, a full copy
    (data, DVC cache, git, MLflow store) whose store points at the copy's own artifacts."""
    root = copy_demo_project(tmp_path_factory.mktemp("built") / "demo")
    r = run(["dvc", "repro"], root, timeout=1800)
    (root.parent / "repro.log").write_text(r.stdout)  # outside the project: its stages' names, for test_pipeline
    return root


def copy_built(src: Path, dest_dir: Path, name: str = "demo") -> Path:
    "A private copy of the built project `src` in `dest_dir / name` (the MLflow store relocated to the copy)."
    from mlops_nb.tracking import copy_project
    return copy_project(src, Path(dest_dir) / name)


# ---------------------------------------------------------------- small projects made by `mlops-nb init`

def synthetic(n=3000, unfair=False, seed=0) -> pd.DataFrame:
    "Two groups; with unfair=True the label (and a feature) depend strongly on the group."
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    shift = np.where(group == "a", 1.5, -1.5) if unfair else 0.0
    y = (x1 + 0.5 * x2 + shift + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "group": group, "period": np.repeat([1, 2, 3, 4], n // 4), "y": y})


def make_project(tmp_path, df, name="p", **gates):
    csv = tmp_path / f"{name}.csv"
    df.to_csv(csv, index=False)
    dest = tmp_path / name
    run(["mlops-nb", "init", str(dest), "--data", str(csv), "--target", "y", "--sensitive", "group",
         "--time-column", "period", "--estimator", "logistic_regression"], tmp_path)
    p = yaml.safe_load((dest / "params.yaml").read_text())
    p["explain"]["sample_size"] = 300
    p["fairness"]["n_boot"] = 50
    for k, v in gates.items(): p["gates"][k].update(v)
    (dest / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    run(["git", "add", "-A"], dest); run(["git", *GIT_ID, "commit", "-qm", "params"], dest)
    return dest


@pytest.fixture(scope="session")
def fair_built(tmp_path_factory) -> Path:
    "A small fair project after a passing `dvc repro` (version 1 is @challenger). Read-only: copy it with copy_built."
    root = make_project(tmp_path_factory.mktemp("fair"), synthetic())
    run(["dvc", "repro"], root)
    return root


@pytest.fixture(scope="session")
def unfair_built(tmp_path_factory):
    "A small project whose model fails the demographic-parity gate, after its failing `dvc repro` (and that run's output)."
    root = make_project(tmp_path_factory.mktemp("unfair"), synthetic(unfair=True))
    return root, run(["dvc", "repro"], root, check=False)
