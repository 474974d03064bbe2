"""Monitor benchmark: the time of one `monitor` call on the demo data (the 2018 test split, 70,131 rows, with labels).

Lower bound in the same run: what any monitoring of a batch must do at least — read the batch, load the
champion (download + SHA-256 check) and score it. Ours adds the drift tests of 16 columns + the score + the
label, the report (JSON + HTML with 18 SVG overlays), an MLflow run, the history line and metrics.prom.
Medians of 5; peak RSS of one `mlops-nb monitor` process (os.wait4). Written to bench/RESULTS.md between
the `<!-- monitor -->` markers.

    .venv/bin/python bench/monitor_bench.py [--project DIR] [--repeats 5] [--no-write]

Without --project it copies the demo project, runs `dvc repro` there (2-4 min) and promotes the challenger.
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time
from datetime import date
from pathlib import Path

os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", DVC_NO_ANALYTICS="1", MPLBACKEND="Agg",
                  MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
import logging; logging.getLogger("mlflow").setLevel(logging.ERROR)
import warnings; warnings.filterwarnings("ignore")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from results import write_section  # bench/results.py

BEGIN, END = "<!-- monitor -->", "<!-- /monitor -->"
VENV = Path(sys.executable).parent


def sh(cmd, cwd, **env):
    e = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    e["PATH"] = f"{VENV}{os.pathsep}{e['PATH']}"
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**e, **env})
    if r.returncode not in (0, 1): raise SystemExit(f"{cmd} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


def project() -> Path:
    from conftest import copy_demo_project
    root = copy_demo_project(Path(tempfile.mkdtemp(prefix="monitor_bench.")))
    print(f"dvc repro in {root} ...", flush=True)
    t0 = time.perf_counter(); sh(["dvc", "repro"], root); print(f"  {time.perf_counter() - t0:.0f} s", flush=True)
    version = json.loads((root / "reports/registry.json").read_text())["version"]
    sh(["mlops-nb", "models", "promote", "", str(version), "-m", "bench"], root, MLOPS_NB_USER="alice")
    return root


def median(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def interleaved(fns: dict, repeats):
    "Median wall and CPU seconds of each function, run in turns (a shared machine's load hits all of them alike)."
    wall, cpu = {k: [] for k in fns}, {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time(); fn()
            wall[k].append(time.perf_counter() - t0); cpu[k].append(time.process_time() - c0)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def cli_peak(root, batch):
    "Wall time and peak RSS (MB) of one `mlops-nb monitor` process."
    e = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    t0 = time.perf_counter()
    p = subprocess.Popen([str(VENV / "mlops-nb"), "monitor", str(batch)], cwd=root, env=e,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    return time.perf_counter() - t0, ru.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", type=Path, help="a reproduced demo project with a champion (default: make one)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    root = (a.project or project()).resolve()
    os.chdir(root)
    from mlops_nb import drift as D, monitor as M, stages
    from mlops_nb.config import load_params, load_settings
    from mlops_nb.registry import load_champion
    params, settings = load_params(root / "params.yaml"), load_settings(root / "settings.ini")
    batch = root / "data/prepared/test.parquet"

    def lower_bound():
        df = M.read_batch(batch, params)
        model, _ = load_champion(settings)
        stages.predict_score(model, df[M.model_columns(model, params)], params.data.task)

    def ours(): M.monitor_batch(root, batch, params=params, settings=settings)

    lower_bound(); ours()  # warm-up: imports, first MLflow queries
    m = interleaved({"lb": lower_bound, "ours": ours}, a.repeats)
    (t_lb, c_lb), (t_ours, c_ours) = m["lb"], m["ours"]
    # where the extra time goes
    df = M.read_batch(batch, params)
    model, _ = load_champion(settings)
    cur = df.assign(**{M.SCORE: stages.predict_score(model, df[M.model_columns(model, params)], params.data.task)})
    ref = D.DriftReference.load(root / M.REFERENCE)
    t_compare = median(lambda: D.compare(ref, cur, params.drift), a.repeats)
    rep = D.compare(ref, cur, params.drift).to_dict()
    t_html = median(lambda: M.render_drift_html(rep), a.repeats)
    t_cli, rss, code = cli_peak(root, batch)
    n = len(df)
    text = f"""{BEGIN}
## Monitor: one `mlops-nb monitor` call on the demo data

{date.today()}, {platform.machine()}, {os.cpu_count()} cores (shared; load average {os.getloadavg()[0]:.1f} at the end), Python {platform.python_version()}.
Batch: the demo's 2018 test split, {n:,} rows x 16 features + labels, against the reference profile of the
2015-2017 train split (207,546 rows), drift mode `{params.drift.mode}`. Median of {a.repeats}.

| what | wall s | CPU s | wall vs lower bound | CPU vs lower bound |
|---|---:|---:|---:|---:|
| lower bound: read the batch + load the champion (download, SHA-256 check) + score it | {t_lb:.2f} | {c_lb:.2f} | 1.00x | 1.00x |
| `monitor_batch`: + drift of 16 columns, the score and the label, report JSON + HTML, MLflow run, history, metrics.prom | {t_ours:.2f} | {c_ours:.2f} | {t_ours / t_lb:.2f}x | {c_ours / c_lb:.2f}x |
| of which `drift.compare` (18 columns) | {t_compare:.2f} | | | |
| of which `render_drift_html` (18 SVG overlays) | {t_html:.2f} | | | |
| `mlops-nb monitor` end to end (new process: imports included) | {t_cli:.2f} | | {t_cli / t_lb:.2f}x | |

The two rows are measured in turns (lower bound, ours, lower bound, …) so that the load of a shared machine
hits both alike; CPU seconds are this process's (scoring uses OpenMP threads, so CPU can exceed wall).

Peak RSS of the `mlops-nb monitor` process: {rss:,.0f} MB (exit status {code}).
Reproduce: `.venv/bin/python bench/monitor_bench.py` (copies the demo, runs `dvc repro`, promotes, measures).
{END}
"""
    print(text)
    if not a.no_write: write_section(text, BEGIN, END)


if __name__ == "__main__":
    main()
