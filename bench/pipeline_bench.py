"""What does running a stage through its notebook cost? Benchmark of the demo pipeline, written to bench/RESULTS.md.

mlops_nb runs every pipeline stage as `dvc repro` -> `mlops-nb run-stage NAME` (a CLI process) -> papermill ->
a Jupyter kernel that executes the stage notebook (the stage function plus the report cells). Since issue 11 the
project's kernel pool (mlops_nb.kernels) executes the notebook itself on one warm kernel kept across the stages
(pandas, scikit-learn, MLflow and matplotlib imported, MLflow's store open, the previous stage's variables cleared;
over IPC), and `run-stage` is a thin client of it; `MLOPS_NB_KERNEL_POOL=0` starts a kernel per stage in the
`run-stage` process as before ("cold"). The lower bound ("peer") is the same library calls in plain Python. This
script measures, interleaved (the order of pool / cold / peer / notebook peer rotates every repeat), median of --repeats:

1. the whole demo pipeline: `dvc repro -f` (every stage, forced) with the pool and cold, vs ONE `python -c`
   process calling the same stage functions in order (imports included), and vs ONE `python -c` process running
   the stage notebooks' code cells in order (the stage calls plus the report cells, figures rendered to PNG as the
   inline backend does: the notebooks' own work without any kernel machinery), each in a fresh temporary copy;
2. single stages (default: register, an empty stage notebook, evaluate): `mlops-nb run-stage NAME` (wall of the
   whole CLI process) with the pool and cold, vs the same library call `stages.NAME('.')` in a warm process: a
   fresh Python process that has already imported what the pool's kernels preload (kernels.PRELOAD), timed around
   the call only. Overhead = median of paired differences. Before a pooled run the script waits until the pool's
   warm kernel is ready again (reset after the previous stage: what the next stage of a `dvc repro` finds);
3. the load average before every measurement (the machine is shared).

Temporary copies hold the project's tracked and untracked-not-ignored files (`git ls-files -co --exclude-standard`,
snapshotted once at the start), get their own git repo, DVC cache and sqlite MLflow store, and are put first on
PYTHONPATH so the CLI, the kernels and the peers all import the copy's mlops_nb. Files that dvc.yaml names as stage
outputs are left out of the copies. The result is the section between `<!-- pipeline -->` markers of
bench/RESULTS.md (bench/results.py write_section).
Usage: `make bench`, or `.venv/bin/python bench/pipeline_bench.py --repeats 5 [--stages register,empty]`.
"""
from __future__ import annotations
import argparse, datetime, json, os, platform, shutil, statistics, subprocess, sys, tempfile, threading, time
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path

import yaml
try: import psutil
except ImportError: psutil = None  # peak RSS then falls back to the largest single process

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_section  # bench/results.py

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PY = str(BIN / "python") if (BIN / "python").exists() else sys.executable
TARGET_OVERHEAD, TARGET_RATIO = 1.5, 1.2
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "MLFLOW_DISABLE_TELEMETRY": "true",
       "DO_NOT_TRACK": "true", "DVC_NO_ANALYTICS": "1", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what users get: .pyc files cached (inside the temp copy)
for k in ("MLOPS_NB_KERNEL_POOL", "MLOPS_NB_KERNEL_POOL_IDLE", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"): ENV.pop(k, None)
COLD = {"MLOPS_NB_KERNEL_POOL": "0"}
# single stages: the pool that serves them outlives the pipeline runs between them (default idle exit: 60 s), so each
# finds what the next stage of a `dvc repro` finds, a warm pool, not one just spawned (the setting is part of the pool's
# identity: every process that looks for that pool gets it too)
KEEP = {"MLOPS_NB_KERNEL_POOL_IDLE": "900"}
EMPTY_NB = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "language": "python",
            "display_name": "Python 3"}}, "cells": [{"cell_type": "code", "id": "params", "metadata": {"tags": ["parameters"]},
            "execution_count": None, "outputs": [], "source": 'root = "."'}]}
# the same library call in a warm process: the kernel's imports done first, untimed
WARM_PEER = ("import time, sys; from mlops_nb import kernels; exec(kernels.PRELOAD); from mlops_nb import stages; "
             "t = time.perf_counter(); {call}; print('PEER_SECONDS', time.perf_counter() - t)")
WAIT_SPARE = ("import time, sys; from mlops_nb import kernels\n"
              "end = time.monotonic() + 180\n"
              "while time.monotonic() < end:\n"
              "    st = kernels.pool_status('.')\n"
              "    if st is None: sys.exit(2)  # no pool (it exited when idle): the caller spawns one\n"
              "    if st['kernel'] and not st['busy']: sys.exit(0)\n"
              "    time.sleep(0.2)\n"
              "sys.exit('no warm kernel after 180 s')")
# the stage notebooks' code cells in one process: what the notebooks themselves cost, without kernels or papermill
NB_PEER = ("import io, json, sys, matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt\n"
           "for s in sys.argv[1:]:\n"
           "    ns = {'display': lambda *a, **k: None}\n"
           "    for c in json.load(open(f'nbs/pipeline/{s}.ipynb'))['cells']:\n"
           "        if c['cell_type'] != 'code': continue\n"
           "        src = c['source'] if isinstance(c['source'], str) else ''.join(c['source'])\n"
           "        exec(compile('\\n'.join(l for l in src.splitlines() if not l.lstrip().startswith('%')), s, 'exec'), ns)\n"
           "        ns['root'] = '.'\n"
           "        for n in plt.get_fignums(): plt.figure(n).savefig(io.BytesIO(), format='png', bbox_inches='tight')\n"
           "        plt.close('all')\n")
BEGIN, END = "<!-- pipeline -->", "<!-- /pipeline -->"
CALLS = {"empty": "pass"}  # default: stages.NAME(root)


def call(stage: str, r: str = "'.'") -> str: return CALLS.get(stage, "stages.{s}({r})").format(s=stage, r=r)


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


def run(cmd: list[str], cwd: Path, extra: dict | None = None) -> dict:
    "measure() with extra environment variables; the load average just before."
    global ENV
    saved, load = ENV, os.getloadavg()[0]
    ENV = {**ENV, **(extra or {})}
    try: m = measure(cmd, cwd)
    finally: ENV = saved
    m["load"] = load
    return m


def rotate(items: list, i: int) -> list: return items[i % len(items):] + items[:i % len(items)]


def run_benchmark(repeats: int, stage_names: list[str], skip_pipeline: bool, res: dict, info: dict) -> list[str]:
    parent = tempfile.mkdtemp(prefix="mlops_nb_bench_")
    try:
        snap = snapshot(parent, info)  # the project keeps changing while this runs: measure one state
        stages = dvc_stages(snap)[0]
        peer = "from mlops_nb import stages; r = '.'; " + "; ".join(call(s, "r") for s in stages)
        built = None
        for i in range(repeats):
            print(f"[bench] repeat {i + 1}/{repeats}", file=sys.stderr, flush=True)
            if not skip_pipeline or built is None:
                cases = [("pipeline.pool", ["dvc", "repro", "-f"], None), ("pipeline.cold", ["dvc", "repro", "-f"], COLD),
                         ("pipeline.peer", [PY, "-c", peer], None), ("pipeline.nbpeer", [PY, "-c", NB_PEER, *stages], None)]
                for key, cmd, extra in (rotate(cases, i) if not skip_pipeline else cases[:1]):
                    proj = copy_project(snap, parent)
                    m = run(cmd, proj, extra); res[key].append(m)
                    print(f"[bench]   {key}: {m['wall']:.1f} s (load {m['load']:.1f})", file=sys.stderr, flush=True)
                    if key in ("pipeline.pool", "pipeline.cold"):
                        m["stages"] = dvc_stage_times(m)
                        assert list(m["stages"]) == stages, m["log"][-2000:]
                    if key == "pipeline.pool":  # the same again at once: a rerun finds the pool warm (within its idle time)
                        w = run(cmd, proj); w["stages"] = dvc_stage_times(w); res["pipeline.warm"].append(w)
                        print(f"[bench]   pipeline.warm: {w['wall']:.1f} s (load {w['load']:.1f})", file=sys.stderr, flush=True)
                    if built is None and key in ("pipeline.pool", "pipeline.cold"): built = proj
                    else: shutil.rmtree(proj.parent)
            # single stages, in the copy a forced run left complete (every stage's inputs exist)
            (built / "nbs" / "pipeline" / "empty.ipynb").write_text(json.dumps(EMPTY_NB))
            for s in stage_names:
                cases = [("pool", ["mlops-nb", "run-stage", s], KEEP), ("cold", ["mlops-nb", "run-stage", s], COLD),
                         ("peer", [PY, "-c", WARM_PEER.format(call=call(s))], None)]
                for who, cmd, extra in rotate(cases, i):
                    if who == "pool":  # a pool with a ready spare (the first pooled run of a copy spawns it)
                        w = subprocess.run([PY, "-c", WAIT_SPARE], cwd=built, env={**ENV, **KEEP, "PYTHONPATH": str(built)}, capture_output=True, text=True)
                        if w.returncode: run(cmd, built, KEEP)  # spawn it, then wait for the spare again
                        subprocess.run([PY, "-c", WAIT_SPARE], cwd=built, env={**ENV, **KEEP, "PYTHONPATH": str(built)}, check=True)
                    m = run(cmd, built, extra)
                    if who == "peer": m["wall"] = float(m["log"].split("PEER_SECONDS")[1].split()[0])
                    res[f"{s}.{who}"].append(m)
                print(f"[bench]   {s}: pool {res[s + '.pool'][-1]['wall']:.2f} s, cold {res[s + '.cold'][-1]['wall']:.2f} s, "
                      f"warm library call {res[s + '.peer'][-1]['wall']:.2f} s (load {res[s + '.pool'][-1]['load']:.1f})",
                      file=sys.stderr, flush=True)
        shutil.rmtree(built.parent)
    finally:
        subprocess.run([PY, "-c", f"from mlops_nb import kernels; kernels.stop_pools({parent!r})"], env=ENV)  # ours, by their roots
        shutil.rmtree(parent, ignore_errors=True)
    return stages


def med(ms: list[dict], k: str = "wall") -> float: return statistics.median(m[k] for m in ms)

def overhead(ours: list[dict], peer: list[dict]) -> float:
    return statistics.median(o["wall"] - p["wall"] for o, p in zip(ours, peer))

def verdict(ok: bool) -> str: return "**PASS**" if ok else "**FAIL**"


def section(res: dict, stages: list[str], stage_names: list[str], info: dict, repeats: int, load: tuple) -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    pkgs = ", ".join(f"{p} {version(p)}" for p in ("dvc", "papermill", "nbclient", "jupyter_client", "ipykernel", "mlflow"))
    n = os.cpu_count()
    loads = [m["load"] for ms in res.values() for m in ms]
    L = [BEGIN, "## Pipeline: a stage through its notebook (DVC -> mlops-nb CLI -> papermill -> kernel) vs plain Python", "",
         f"- machine: {n} cores, {cpu}; Python {platform.python_version()}; {pkgs}",
         f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; project commit {info['commit']}"
         f"{' + uncommitted changes' if info['dirty'] else ''}",
         f"- load average (1 min): {load[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end, median {statistics.median(loads):.2f} "
         f"(min {min(loads):.2f}, max {max(loads):.2f}) over the measurements: a shared machine, other jobs compete for the {n} cores",
         f"- median of {repeats}, interleaved (the order of pool / cold / peer / notebook peer rotates every repeat); "
         "pool = the kernel pool (default: one warm kernel across the stages, the pool executes the notebooks), "
         "cold = `MLOPS_NB_KERNEL_POOL=0` (a kernel started per stage in `run-stage`, IPC transport)",
         f"- reproduce: `.venv/bin/python bench/pipeline_bench.py --repeats {repeats}`",
         "- before the warm kernel (a fresh kernel forked per stage, papermill and the HTML export in `run-stage`; run of "
         "2026-11-30 01:59 UTC, load median 0.81): one process 10.8 s, `dvc repro -f` with the pool 24.1 s (2.20x), run-stage "
         "overhead register +0.80 s, evaluate +1.29 s. Before the pool (issue 11): 1.79x, a stage's notebook 3-13 s over its call.", ""]
    if "pipeline.pool" in res and "pipeline.peer" in res:
        peer = med(res["pipeline.peer"])
        L += ["### Whole demo pipeline", "", "| run | wall (median) | ratio to one process | CPU s | peak RSS MB |", "|---|---:|---:|---:|---:|",
              f"| one `python -c` process calling the stage functions (imports included) | {peer:.1f} s | 1.00x | "
              f"{med(res['pipeline.peer'], 'cpu'):.0f} | {med(res['pipeline.peer'], 'rss'):.0f} |"]
        if "pipeline.nbpeer" in res:
            ms = res["pipeline.nbpeer"]
            L.append(f"| one `python -c` process running the stage notebooks' code cells (stage calls + report cells, figures "
                     f"rendered to PNG; no kernel) | {med(ms):.1f} s | {med(ms) / peer:.2f}x | {med(ms, 'cpu'):.0f} | {med(ms, 'rss'):.0f} |")
        for k, label in (("pool", "`dvc repro -f`, kernel pool (first run: the pool starts)"),
                         ("warm", "`dvc repro -f` again at once, kernel pool warm (a rerun within its 60 s idle time)"),
                         ("cold", "`dvc repro -f`, `MLOPS_NB_KERNEL_POOL=0`")):
            if f"pipeline.{k}" in res:
                ms = res[f"pipeline.{k}"]
                L.append(f"| {label} | {med(ms):.1f} s | {med(ms) / peer:.2f}x | {med(ms, 'cpu'):.0f} | {med(ms, 'rss'):.0f} |")
        per = lambda k: [o["wall"] / p["wall"] for o, p in zip(res[f"pipeline.{k}"], res["pipeline.peer"])]
        L += ["", "Per repeat (wall s, load average; the same repeat runs all three back to back, so its ratios are the fairest): "
              + "; ".join(f"#{i + 1}: " + ", ".join(f"{k} {res[f'pipeline.{k}'][i]['wall']:.1f} ({res[f'pipeline.{k}'][i]['load']:.1f})"
                                                   for k in ("peer", "nbpeer", "pool", "warm", "cold") if f"pipeline.{k}" in res)
                          for i in range(len(res["pipeline.peer"]))),
              "Median of the per-repeat ratios to the one-process run: "
              + ", ".join(f"{k} {statistics.median(per(k)):.2f}x" for k in ("nbpeer", "pool", "warm", "cold") if f"pipeline.{k}" in res)]
        if "pipeline.nbpeer" in res:
            nbper = lambda k: [o["wall"] / p["wall"] for o, p in zip(res[f"pipeline.{k}"], res["pipeline.nbpeer"])]
            L.append("Median of the per-repeat ratios to the notebooks' code in one process (what the kernel machinery, "
                     "DVC and the reports' files add to the notebooks' own work): "
                     + ", ".join(f"{k} {statistics.median(nbper(k)):.2f}x" for k in ("pool", "cold") if f"pipeline.{k}" in res))
            slower = sum(n["wall"] > o["wall"] for n, o in zip(res["pipeline.nbpeer"], res["pipeline.pool"]))
            if slower * 2 > len(res["pipeline.nbpeer"]):
                L.append(f"That reference is no lower bound in this run: it was slower than the pooled `dvc repro` in {slower} of "
                         f"{len(res['pipeline.nbpeer'])} repeats; compare with the stage calls. Two known causes: the pool imports MLflow, skops "
                         "and SHAP on the second core while the first stage runs (one process imports them in turn), and a process "
                         "that exits frees its millions of small objects (about 1.3 s measured at the end of the one-process run), "
                         "which the pool's kernels, killed, never do.")
        L += ["", "CPU s and peak RSS are those of the measured process tree: with the pool, the kernel, the zygote "
              "and the pool daemon (which executes the notebooks) are detached processes outside it, so those two columns "
              "under-count the pooled run; compare wall times."]
        L += ["", "Each stage's share of `dvc repro -f` (from its 'Running stage' line to the next), median, seconds:", "",
              "| stage | " + " | ".join(stages) + " |", "|---|" + "---:|" * len(stages)]
        for k in ("pool", "cold"):
            if f"pipeline.{k}" in res:
                L.append(f"| {k} | " + " | ".join(f"{statistics.median(m['stages'][s] for m in res[f'pipeline.{k}']):.1f}" for s in stages) + " |")
        L.append("")
    L += ["### Single stages: `mlops-nb run-stage NAME` vs the same library call in a warm process", "",
          "Peer: `stages.NAME('.')` timed in a fresh process that has already done the kernels' preload imports "
          "(`kernels.PRELOAD`); the empty stage's peer does nothing (0 s). Ours: wall of the whole `mlops-nb run-stage` process.", "",
          "| stage | warm library call | run-stage, pool | overhead, pool | run-stage, cold | overhead, cold | load (median) |",
          "|---|---:|---:|---:|---:|---:|---:|"]
    for s in stage_names:
        p, o, c = res[f"{s}.peer"], res[f"{s}.pool"], res[f"{s}.cold"]
        L.append(f"| {s} | {med(p):.2f} s | {med(o):.2f} s | {overhead(o, p):+.2f} s | {med(c):.2f} s | {overhead(c, p):+.2f} s | "
                 f"{statistics.median(m['load'] for m in o + c + p):.1f} |")
    L += ["", "### Targets (issue 11, point 2)", ""]
    for s in stage_names:
        ov = overhead(res[f"{s}.pool"], res[f"{s}.peer"])
        L.append(f"- {verdict(ov <= TARGET_OVERHEAD)} stage {s} through its notebook <= {TARGET_OVERHEAD} s over the warm library call: {ov:+.2f} s "
                 f"(cold kernel: {overhead(res[f'{s}.cold'], res[f'{s}.peer']):+.2f} s)")
    if "pipeline.pool" in res and "pipeline.peer" in res:
        ratio = lambda k: statistics.median(o["wall"] / p["wall"] for o, p in zip(res[f"pipeline.{k}"], res["pipeline.peer"]))
        r = ratio("pool")
        cold = f" (cold kernels: {ratio('cold'):.2f}x)" if "pipeline.cold" in res else ""
        L.append(f"- {verdict(r <= TARGET_RATIO)} `dvc repro -f` <= {TARGET_RATIO}x the same calls in one process (median of the "
                 f"per-repeat ratios): {r:.2f}x{cold}")
        if "pipeline.warm" in res:  # not the target's case: the one-process run pays its imports, a warm pool paid them before
            w = ratio("warm")
            L.append(f"- (rerun, not the target's case) `dvc repro -f` again while the pool is warm: {w:.2f}x the one-process run")
    if info["skipped"]:
        L += ["", "Left out of the temporary copies because dvc.yaml names them as stage outputs but git tracks them: "
              + ", ".join(f"`{f}`" for f in sorted(info["skipped"]))]
    return "\n".join(L + [END]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="repeats per case (median is reported; default 3)")
    ap.add_argument("--stages", default="register,empty,evaluate", help="single stages to measure (empty = a notebook with only its parameters cell)")
    ap.add_argument("--skip-pipeline", action="store_true", help="build the copy once (pooled `dvc repro`) and measure single stages only")
    ap.add_argument("--no-write", action="store_true", help="print the section, do not write bench/RESULTS.md")
    a = ap.parse_args()
    load = os.getloadavg()
    res: dict[str, list[dict]] = defaultdict(list)
    t0, info = time.perf_counter(), {}
    names = [s for s in a.stages.split(",") if s]
    stages = run_benchmark(a.repeats, names, a.skip_pipeline, res, info)
    if a.skip_pipeline: res.pop("pipeline.pool", None)
    text = section(res, stages, names, info, a.repeats, load)
    print(text)
    if not a.no_write: write_section(text, BEGIN, END)
    print(f"[bench] {(time.perf_counter() - t0) / 60:.1f} min", file=sys.stderr)


if __name__ == "__main__":
    main()
