"""Shared fixtures: a quiet environment, the venv's tools on PATH, and temporary projects."""
import os, shutil, subprocess, sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", DVC_NO_ANALYTICS="1", MPLBACKEND="Agg")
os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"
for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):  # tests choose their own store
    os.environ.pop(var, None)

GIT_ID = ["-c", "user.name=mlops-nb-tests", "-c", "user.email=tests@mlops-nb.invalid"]


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
    "The repository's demo project (tracked files only, no run state) as a fresh git repo in `dest`."
    # tracked files plus new, not ignored ones (e.g. a stage notebook added but not yet committed)
    files = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], REPO).stdout.split()
    keep = [f for f in files if f.split("/")[0] in {"data", "nbs", ".dvc"} and not f.startswith("nbs/0")
            or f in {"dvc.yaml", "params.yaml", "settings.ini", ".gitignore", ".dvcignore", "contract.yaml"}]
    for f in keep:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, dest / f)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", *GIT_ID, "commit", "-q", "-m", "demo"], dest)
    return dest
