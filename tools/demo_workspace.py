"""`demo/`: the demo project as a project of its own, with its own git history and DVC, so that `dvc repro`,
`dvc exp run`, `dvc exp show`, `dvc metrics diff` and `dvc plots diff` work there as in a user's project
(the source repository ignores run outputs, which would leave DVC nothing to compare).

    python tools/demo_workspace.py demo            # make it (kept as it is when it already exists)
    python tools/demo_workspace.py demo --commit   # after `dvc repro`: commit dvc.lock, metrics and plots

`make demo` runs both around `dvc repro`; the tests build their demo projects with `copy_demo_project`.
"""
import argparse, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = {"dvc.yaml", "params.yaml", "settings.ini", "roles.yaml", ".dvcignore", "contract.yaml"}


def _git(args, cwd, **kw):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, **kw)


def _identity(cwd) -> list[str]:
    "Author flags when the user has no git identity configured (as `mlops-nb init` does)."
    have = subprocess.run(["git", "config", "user.email"], cwd=cwd, capture_output=True, text=True).stdout.strip()
    return [] if have else ["-c", "user.name=mlops-nb", "-c", "user.email=mlops-nb@localhost"]


def demo_files() -> list[str]:
    "The demo project's files in the source tree (tracked or new, not ignored): data, DVC config, stage and dashboard notebooks."
    files = _git(["ls-files", "--cached", "--others", "--exclude-standard"], ROOT).stdout.split()
    return [f for f in files if (ROOT / f).is_file() and (f.split("/")[0] in {"data", ".dvc"} or f in PROJECT_FILES
                                                           or f.startswith(("nbs/pipeline/", "nbs/dashboards/")))]


def copy_demo_project(dest, git_id=()) -> Path:
    "A fresh project in `dest` with the demo's files, the .gitignore `mlops-nb init` writes, and one git commit."
    from mlops_nb.scaffold import GITIGNORE
    dest = Path(dest)
    for f in demo_files():
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest / f)
    (dest / ".gitignore").write_text(GITIGNORE)
    _git(["init", "-q", "-b", "main"], dest)
    _git(["add", "-A"], dest)
    _git([*(git_id or _identity(dest)), "commit", "-q", "-m", "demo project"], dest)
    return dest


def commit_run(dest) -> str:
    "Commit what `dvc repro` left to commit (dvc.lock, metrics, plots, reports): the baseline experiments compare with."
    _git(["add", "-A"], dest)
    if not _git(["status", "--porcelain"], dest).stdout.strip(): return "nothing to commit"
    _git([*_identity(dest), "commit", "-q", "-m", "demo run: dvc.lock, metrics, plots"], dest)
    return _git(["log", "--oneline", "-1"], dest).stdout.strip()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dest")
    ap.add_argument("--commit", action="store_true", help="commit the results of `dvc repro` in DEST")
    a = ap.parse_args()
    dest = Path(a.dest)
    if a.commit: print(f"{dest}: {commit_run(dest)}")
    elif (dest / ".git").exists(): print(f"{dest} exists: kept as it is (remove it for a fresh demo)")
    elif dest.exists() and any(dest.iterdir()): sys.exit(f"{dest} exists and is not a demo project; choose another folder.")
    else: print(f"made {copy_demo_project(dest)}")
