"""What does the notebook machinery cost? Benchmark of the demo pipeline, written to bench/RESULTS.md.

mlops_nb runs every pipeline stage as `dvc repro` -> `mlops-nb run-stage NAME` (a CLI process) -> papermill
-> a fresh Jupyter kernel that imports pandas/sklearn/mlflow again and executes the stage notebook (the
stage function plus the report cells: tables, plots). The same work can be done by calling the stage
functions from one plain Python process; that is the lower bound ("peer"). This script measures:

1. the whole demo pipeline: `dvc repro -f` (every stage of dvc.yaml, forced) vs ONE `python -c` process
   calling the same stage functions in order (stages.prepare, stages.train, ...; imports included), each
   in a fresh temporary copy;
2. each stage: `mlops-nb run-stage NAME` vs `python -c "from mlops_nb import stages; stages.NAME('.')"`
   in the same copy (both pay their imports); the difference is the overhead of CLI + papermill + kernel
   + report cells. For train the fit time (models/model.json fit_seconds) is subtracted from both sides
   before taking the difference: the fit is CPU-bound and dominates the noise on a shared machine;
3. papermill executing an empty notebook with a `parameters` cell (kernel start lower bound) vs `python -c pass`;
4. a no-op `dvc repro` (everything up to date), median of 5, vs `dvc --version` (DVC CLI start);
5. import costs that every stage pays: the stage kernel's and the CLI process's imports (for the stages
   with an HTML report the CLI also imports nbconvert and mlflow, to export the report and attach it).

Each case is repeated (--repeats, default 3; ours/peer order alternates) and the median is reported, with
CPU time (user+sys of the process tree, from wait4) that contention on a shared machine distorts less than
wall time, and peak RSS: the sum over the process tree sampled every 50 ms (psutil; shared pages counted
once per process) and the largest single process (ru_maxrss, what `/usr/bin/time -v` reports).

Temporary copies hold the project's tracked and untracked-not-ignored files (`git ls-files -co
--exclude-standard`, snapshotted once at the start: the project may change while this runs), get their
own git repo, DVC cache and sqlite MLflow store, and are put first on PYTHONPATH so the CLI, the kernels
and the peers all import the copy's mlops_nb: the state of the project itself is not touched. Files that
dvc.yaml names as stage outputs are left out of the copies: DVC refuses to reproduce an output that git
tracks (see the notes in RESULTS.md). The result is the section between `<!-- pipeline -->` markers of
bench/RESULTS.md (other benchmarks own the other sections).
Usage: `make bench`, or `.venv/bin/python bench/pipeline_bench.py --repeats 5`.
"""
from __future__ import annotations
import argparse, datetime, json, os, platform, shutil, statistics, subprocess, sys, tempfile, threading, time
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path

import yaml
try: import psutil
except ImportError: psutil = None  # peak RSS then falls back to the largest single process

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PY = str(BIN / "python") if (BIN / "python").exists() else sys.executable
TARGET_OVERHEAD, TARGET_NOOP, TARGET_PIPELINE = 1.5, 1.0, 60.0
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "MLFLOW_DISABLE_TELEMETRY": "true",
       "DO_NOT_TRACK": "true", "DVC_NO_ANALYTICS": "1", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what users get: .pyc files cached (inside the temp copy)
EMPTY_NB = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "language": "python",
            "display_name": "Python 3"}}, "cells": [{"cell_type": "code", "id": "params", "metadata": {"tags": ["parameters"]},
            "execution_count": None, "outputs": [], "source": 'root = "."'}]}
RUN_EMPTY = ("import papermill as pm; pm.execute_notebook('empty.ipynb', 'empty.out.ipynb', parameters={'root': '.'}, "
             "kernel_name='python3', progress_bar=False, log_output=False, shutdown_kernel='immediate')")
IMPORTS = {"stage kernel (and peer): `import pandas, mlops_nb.stages, mlflow.sklearn, matplotlib.pyplot`":
               "import pandas, mlops_nb.stages, mlflow.sklearn, matplotlib.pyplot",
           "CLI process, every stage: `import mlops_nb.cli, mlops_nb.project, papermill`":
               "import mlops_nb.cli, mlops_nb.project, papermill",
           "CLI process, HTML-report stages: `import nbconvert, mlflow`": "import nbconvert, mlflow"}
MARK, END = "<!-- pipeline -->", "<!-- /pipeline -->"


def dvc_stages(root: Path) -> tuple[list[str], set[str]]:
    "Stage names of dvc.yaml in file order (they are in dependency order) and every path a stage writes."
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    outs = {next(iter(o)) if isinstance(o, dict) else o
            for st in stages.values() for k in ("outs", "metrics", "plots") for o in st.get(k, [])}
    return list(stages), outs


def measure(cmd: list[str], cwd: Path) -> dict:
    "Run cmd in cwd: wall s, CPU s, peak RSS MB of its process tree, output lines with their time; exit if it fails."
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env={**ENV, "PYTHONPATH": str(cwd)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines, peak, done = [], [0], threading.Event()
    def read(): lines.extend((time.perf_counter() - t0, raw.decode(errors="replace")) for raw in p.stdout)
    def sample():
        while not done.wait(0.05):
            total = 0
            try: procs = [psutil.Process(p.pid), *psutil.Process(p.pid).children(recursive=True)]
            except psutil.Error: continue
            for q in procs:
                try: total += q.memory_info().rss
                except psutil.Error: pass
            peak[0] = max(peak[0], total)
    threads = [threading.Thread(target=f, daemon=True) for f in ([read, sample] if psutil else [read])]
    for t in threads: t.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    for t in threads: t.join(timeout=10)
    text = "".join(line for _, line in lines)
    if p.returncode != 0:
        sys.exit(f"bench: `{' '.join(cmd)}` failed in {cwd} (exit {p.returncode}):\n{text[-3000:]}")
    largest = ru.ru_maxrss / 1024
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": max(peak[0] / 2**20, largest), "maxrss": largest,
            "log": text, "lines": lines}


def dvc_stage_times(m: dict) -> dict[str, float]:
    "Wall time of each stage inside a `dvc repro` run: from its 'Running stage' line to the next one (or the end)."
    marks = [(t, line.split("'")[1]) for t, line in m["lines"] if line.startswith("Running stage '")]
    return {name: end - t for (t, name), end in zip(marks, [t for t, _ in marks[1:]] + [m["wall"]])}


def snapshot(parent: str, info: dict) -> Path:
    "The project's files as they are now (tracked + untracked-not-ignored, minus stage outputs): every copy's source."
    dest = Path(parent) / "snapshot"
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    info.update(commit=git("rev-parse", "--short", "HEAD").strip(), dirty=bool(git("status", "--porcelain").strip()),
                skipped=set())
    outs = dvc_stages(ROOT)[1]
    for f in filter(None, git("ls-files", "-z", "-co", "--exclude-standard").split("\0")):
        if f in outs: info["skipped"].add(f)
        elif (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    return dest


def copy_project(snap: Path, parent: str) -> Path:
    "A fresh copy of the snapshot with its own git repository (and so its own DVC cache and MLflow store)."
    dest = Path(tempfile.mkdtemp(prefix="copy_", dir=parent)) / "project"
    shutil.copytree(snap, dest)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@invalid", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "bench copy"]):
        subprocess.run(git + args, cwd=dest, env=ENV, check=True, capture_output=True)
    return dest


def run_benchmark(repeats: int, res: dict[str, list[dict]], info: dict) -> list[str]:
    "Fill res[case.ours|case.peer] with measurements; return the stage names."
    parent = tempfile.mkdtemp(prefix="mlops_nb_bench_")
    try:
        snap = snapshot(parent, info)  # the project keeps changing while this runs: measure one state
        stages = dvc_stages(snap)[0]
        peer = "from mlops_nb import stages; r = '.'; " + "; ".join(f"stages.{s}(r)" for s in stages)
        for i in range(repeats):
            flip = (lambda pair: pair[::-1]) if i % 2 else (lambda pair: pair)  # alternate who runs first
            print(f"[bench] repeat {i + 1}/{repeats}", file=sys.stderr, flush=True)
            for key, cmd in flip([("pipeline.ours", ["dvc", "repro", "-f"]), ("pipeline.peer", [PY, "-c", peer])]):
                proj = copy_project(snap, parent)
                m = measure(cmd, proj); res[key].append(m)
                print(f"[bench]   {key}: {m['wall']:.1f} s", file=sys.stderr, flush=True)
                if key == "pipeline.ours":
                    m["stages"] = dvc_stage_times(m)
                    assert list(m["stages"]) == stages, m["log"][-2000:]
                    ours = proj
                else: shutil.rmtree(proj.parent)
            if i == 0:  # right after the forced run everything is up to date
                for _ in range(max(5, repeats)):
                    m = measure(["dvc", "repro"], ours)
                    assert "up to date" in m["log"] and "Running stage" not in m["log"], m["log"][-2000:]
                    res["noop.ours"].append(m); res["noop.peer"].append(measure(["dvc", "--version"], ours))
            for s in stages:  # in the copy the forced run left complete: every stage's inputs exist
                for who, cmd in flip([("ours", ["mlops-nb", "run-stage", s]),
                                      ("peer", [PY, "-c", f"from mlops_nb import stages; stages.{s}('.')"])]):
                    m = measure(cmd, ours)
                    if s == "train": m["fit"] = json.loads((ours / "models/model.json").read_text())["fit_seconds"]
                    res[f"{s}.{who}"].append(m)
                print(f"[bench]   {s}: {res[s + '.ours'][-1]['wall']:.1f} s vs {res[s + '.peer'][-1]['wall']:.1f} s",
                      file=sys.stderr, flush=True)
            (ours / "empty.ipynb").write_text(json.dumps(EMPTY_NB))
            for who, cmd in flip([("ours", [PY, "-c", RUN_EMPTY]), ("peer", [PY, "-c", "pass"])]):
                res[f"empty.{who}"].append(measure(cmd, ours))
            for label, code in IMPORTS.items():
                res[label].append(measure([PY, "-c", code], ours))
            shutil.rmtree(ours.parent)
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    return stages


def med(ms: list[dict], k: str) -> float: return statistics.median(m[k] for m in ms)

def overhead(ours: list[dict], peer: list[dict], key: str = "wall") -> float:
    "Median of the paired differences ours - peer (for wall time, the fit time is taken out of both when recorded)."
    fit = (lambda m: m.get("fit", 0)) if key == "wall" else (lambda m: 0)
    return statistics.median((o[key] - fit(o)) - (p[key] - fit(p)) for o, p in zip(ours, peer))

def verdict(ok: bool) -> str: return "**PASS**" if ok else "**FAIL**"


def write_results(res: dict, stages: list[str], info: dict, repeats: int, load: tuple, path: Path) -> None:
    commit, dirty, skipped = info["commit"], info["dirty"], info["skipped"]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    pyver = subprocess.run([PY, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True).stdout.strip()
    pkgs = ", ".join(f"{p} {version(p)}" for p in ("dvc", "papermill", "ipykernel", "mlflow", "scikit-learn", "pandas"))
    n = os.cpu_count()
    rows = [("whole pipeline: `dvc repro -f` vs one `python -c` process", "pipeline", "")]
    rows += [(f"stage {s}: `mlops-nb run-stage {s}` vs `python -c stages.{s}`", s, " (fit excluded)" if s == "train" else "") for s in stages]
    rows += [("empty notebook via papermill vs `python -c pass`", "empty", ""), ("no-op `dvc repro` vs `dvc --version`", "noop", "")]
    L = [MARK, f"## Pipeline: notebook machinery (DVC -> mlops-nb CLI -> papermill -> kernel) vs plain Python", "",
         f"- machine: {n} cores (nproc), {cpu}; Python {pyver}; {platform.platform()}",
         f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; project commit {commit}"
         f"{' + uncommitted changes' if dirty else ''}; {pkgs}",
         f"- load average (1 min) at start / end: {load[0]:.2f} / {os.getloadavg()[0]:.2f} (shared machine: other jobs compete for the {n} cores)",
         f"- reproduce: `make bench` (runs `python bench/pipeline_bench.py`), or `.venv/bin/python bench/pipeline_bench.py --repeats N`",
         f"- wall seconds, median of {repeats} (no-op rows: {len(res['noop.ours'])}); overhead = median of paired differences ours - peer; "
         "in `dvc repro -f` = the stage's share of the forced pipeline run (from its 'Running stage' line to the next); "
         "CPU = user+sys of the process tree; peak RSS = sum over the process tree (largest single process in the notes)", "",
         f"| case ({n} cores, median of {repeats}) | peer / lower bound | mlops_nb | ratio | overhead | in `dvc repro -f` "
         "| CPU s (peer / ours) | peak RSS MB (peer / ours) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, k, note in rows:
        o, p = res[f"{k}.ours"], res[f"{k}.peer"]
        dvc = f"{statistics.median(m['stages'][k] for m in res['pipeline.ours']):.2f} s" if k in stages else ""
        L.append(f"| {label} | {med(p, 'wall'):.2f} s | {med(o, 'wall'):.2f} s | {med(o, 'wall') / med(p, 'wall'):.2f}x | "
                 f"{overhead(o, p):+.2f} s{note} | {dvc} | {med(p, 'cpu'):.1f} / {med(o, 'cpu'):.1f} | "
                 f"{med(p, 'rss'):.0f} / {med(o, 'rss'):.0f} |")
    L += ["", "Where the time goes (same copy, `python -c` subprocess, median):", "", "| import | wall | CPU s | peak RSS MB |", "|---|---:|---:|---:|"]
    L += [f"| {label} | {med(res[label], 'wall'):.2f} s | {med(res[label], 'cpu'):.1f} | {med(res[label], 'rss'):.0f} |" for label in IMPORTS]
    fit_o, fit_p = (statistics.median(m["fit"] for m in res[f"train.{w}"]) for w in ("ours", "peer"))
    L += ["", f"- train fit time (models/model.json fit_seconds), median: {fit_p:.1f} s plain / {fit_o:.1f} s in the kernel",
          f"- largest single process (ru_maxrss), whole pipeline: {med(res['pipeline.peer'], 'maxrss'):.0f} MB plain / "
          f"{med(res['pipeline.ours'], 'maxrss'):.0f} MB under DVC", "", "## Targets", ""]
    for s in stages:
        ov = overhead(res[f"{s}.ours"], res[f"{s}.peer"])
        L.append(f"- {verdict(ov <= TARGET_OVERHEAD)} per-stage overhead of the notebook machinery <= {TARGET_OVERHEAD} s, "
                 f"stage {s}: {ov:+.2f} s (CPU: {overhead(res[f'{s}.ours'], res[f'{s}.peer'], 'cpu'):+.1f} s)")
    noop, pipe = med(res["noop.ours"], "wall"), med(res["pipeline.ours"], "wall")
    L += [f"- {verdict(noop <= TARGET_NOOP)} no-op `dvc repro` <= {TARGET_NOOP} s: {noop:.2f} s",
          f"- {verdict(pipe <= TARGET_PIPELINE)} whole demo pipeline <= {TARGET_PIPELINE:.0f} s on {n} cores: {pipe:.1f} s "
          f"(the plain-Python lower bound takes {med(res['pipeline.peer'], 'wall'):.1f} s)"]
    if skipped:
        L += ["", f"Left out of the temporary copies because dvc.yaml names them as stage outputs but git tracks them "
              f"(`dvc repro` in a clean clone then stops with \"output ... is already tracked by SCM\"): "
              + ", ".join(f"`{f}`" for f in sorted(skipped))]
    section = "\n".join(L + [END])
    old = path.read_text() if path.exists() else "# Benchmarks\n"  # re-read now: other benchmarks write their sections too
    if MARK in old and END in old:
        new = old[:old.index(MARK)] + section + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".RESULTS.", suffix=".md")
    with os.fdopen(fd, "w") as f: f.write(new)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="repeats per case (median is reported; default 3)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md")
    a = ap.parse_args()
    load = os.getloadavg()
    res: dict[str, list[dict]] = defaultdict(list)
    t0 = time.perf_counter()
    info: dict = {}
    stages = run_benchmark(a.repeats, res, info)
    write_results(res, stages, info, a.repeats, load, a.out)
    print(f"[bench] wrote {a.out} in {(time.perf_counter() - t0) / 60:.1f} min", file=sys.stderr)
    text = a.out.read_text()
    print(text[text.index(MARK):text.index(END) + len(END)])


if __name__ == "__main__":
    main()
