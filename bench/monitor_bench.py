"""Monitor benchmark: the time of one `monitor` call on the demo data: a batch of --rows rows (default 100,000): the
2018 test split (70,131 rows, with labels) + the newest rows of the train split; --rows 0 uses the test split itself.

Lower bound in the same run: what any monitoring of a batch must do at least — read the batch, load the
champion (download + SHA-256 check) and score it. Ours adds the drift tests of 16 columns + the score + the
label, the report (JSON + HTML with 18 SVG overlays), an MLflow run, the history line and metrics.prom.
The lower bound, `monitor_batch` in this process, the `mlops-nb monitor` command (a new process: imports included)
and `drift.compare` alone run in turns (interleaved), medians of --repeats; peak RSS of the `mlops-nb monitor` processes
(/usr/bin/time %M); `import mlops_nb.drift` in a new process. Written to bench/RESULTS.md between the `<!-- monitor -->` markers.

    .venv/bin/python bench/monitor_bench.py [--project DIR] [--rows 100000] [--repeats 5] [--no-write]

Without --project it copies the demo project (with the repository's roles.yaml), runs `dvc repro` there (2-4 min)
and promotes the challenger as alice (an approver there).
"""
import argparse, json, os, platform, shutil, statistics, subprocess, sys, tempfile, time
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
    shutil.copy2(REPO / "roles.yaml", root / "roles.yaml")   # promoting needs an approver
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


def cli_peak(root, batch, peaks: list):
    "One `mlops-nb monitor` process; its peak RSS (MB) is appended to `peaks`."
    e = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    # through /usr/bin/time (%M: its child's peak RSS): a child forked from this process would start its ru_maxrss at
    # this process's RSS (data, model and libraries loaded), on Linux
    r = subprocess.run(["/usr/bin/time", "-f", "%M", str(VENV / "mlops-nb"), "monitor", str(batch)], cwd=root, env=e,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode not in (0, 1): raise SystemExit(f"mlops-nb monitor failed ({r.returncode}): {r.stderr[-2000:]}")
    peaks.append(int(r.stderr.strip().splitlines()[-1]) / 1024)


def import_seconds(module: str, repeats: int) -> tuple[float, float]:
    "Median wall seconds of `python -c 'import module'` and of `python -c pass` (new processes)."
    def run(code):
        t0 = time.perf_counter(); subprocess.run([sys.executable, "-c", code], check=True); return time.perf_counter() - t0
    both = [(run(f"import {module}"), run("pass")) for _ in range(repeats)]
    return statistics.median(b[0] for b in both), statistics.median(b[1] for b in both)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", type=Path, help="a reproduced demo project with a champion (default: make one)")
    ap.add_argument("--rows", type=int, default=100_000, help="batch rows: the test split + the newest train rows (0: the test split)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    root = (a.project or project()).resolve()
    os.chdir(root)
    load0 = os.getloadavg()[0]
    t_import, t_pass = import_seconds("mlops_nb.drift", a.repeats)
    import pandas as pd
    from mlops_nb import drift as D, drift_reference as DR, monitor as M, stages
    from mlops_nb.batch import read_batch
    from mlops_nb.drift_report import render_drift_html
    from mlops_nb.model import model_columns
    from mlops_nb.config import load_params, load_settings
    from mlops_nb.integrity import load_champion
    params, settings = load_params(root / "params.yaml"), load_settings(root / "settings.ini")
    batch = root / "data/prepared/test.parquet"
    if a.rows:
        batch = root / f"bench_batch_{a.rows}.parquet"
        # the test split, topped up with the newest rows of the train split (ids stay unique, as the contract demands)
        test, train = pd.read_parquet(root / "data/prepared/test.parquet"), pd.read_parquet(root / "data/prepared/train.parquet")
        pd.concat([test, train.tail(max(a.rows - len(test), 0))]).head(a.rows).reset_index(drop=True).to_parquet(batch)
    df = read_batch(batch, params)
    model, _ = load_champion(settings)
    cur = df.assign(**{M.SCORE: stages.predict_score(model, df[model_columns(model, params.data.features)], params.data.task)})
    ref = DR.DriftReference.load(root / M.REFERENCE)

    def lower_bound():
        df = read_batch(batch, params)
        model, _ = load_champion(settings)
        stages.predict_score(model, df[model_columns(model, params.data.features)], params.data.task)

    def ours(): M.monitor_batch(root, batch, params=params, settings=settings)
    cold_code = ("from mlops_nb import stages; from mlops_nb.batch import read_batch; from mlops_nb.model import model_columns; "
                 "from mlops_nb.config import load_params, load_settings; "
                 "from mlops_nb.integrity import load_champion; "
                 "p, s = load_params('params.yaml'), load_settings('settings.ini'); "
                 f"df = read_batch({str(batch)!r}, p); model, _ = load_champion(s); "
                 "stages.predict_score(model, df[model_columns(model, p.data.features)], p.data.task)")
    cold_env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    def cold_lower_bound():  # the same three steps in a new process: what any command that scores with the champion pays
        subprocess.run([sys.executable, "-c", cold_code], cwd=root, env=cold_env, check=True)
    peaks = []
    def cli(): cli_peak(root, batch, peaks)
    def compare(): D.compare(ref, cur, params.drift)

    lower_bound(); ours(); compare()  # warm-up: imports, first MLflow queries
    m = interleaved({"lb": lower_bound, "ours": ours, "cold_lb": cold_lower_bound, "cli": cli, "compare": compare}, a.repeats)
    (t_lb, c_lb), (t_ours, c_ours), (t_cli, _), (t_compare, _) = m["lb"], m["ours"], m["cli"], m["compare"]
    t_cold = m["cold_lb"][0]
    rep = D.compare(ref, cur, params.drift).to_dict()
    t_html = median(lambda: render_drift_html(rep), a.repeats)
    n = len(df)
    load1 = os.getloadavg()[0]
    text = f"""{BEGIN}
## Monitor: one `mlops-nb monitor` call on the demo data

{date.today()}, {platform.machine()}, {os.cpu_count()} cores (shared; 1-minute load average {load0:.1f} at the start, {load1:.1f} at the end), Python {platform.python_version()}.
Batch: {f"{n:,} rows: the demo's 2018 test split (70,131 rows) + the newest rows of its train split" if a.rows else f"the demo's 2018 test split, {n:,} rows"}
x 16 features + labels, against the reference profile of the 2015-2017 train split (207,546 rows), drift mode
`{params.drift.mode}`. Interleaved (lower bound, `monitor_batch`, cold lower bound, `mlops-nb monitor`, `drift.compare`, then again), medians of {a.repeats}.

| what | wall s | CPU s | wall vs lower bound | wall vs `drift.compare` |
|---|---:|---:|---:|---:|
| lower bound: read the batch + load the champion (download, SHA-256 check) + score it | {t_lb:.2f} | {c_lb:.2f} | 1.00x | {t_lb / t_compare:.1f}x |
| `monitor_batch`: + drift of 16 columns, the score and the label, report JSON + HTML, MLflow run, history, metrics.prom | {t_ours:.2f} | {c_ours:.2f} | {t_ours / t_lb:.2f}x | {t_ours / t_compare:.1f}x |
| of which `drift.compare` (18 columns) | {t_compare:.2f} | | | 1.0x |
| of which `render_drift_html` (18 SVG overlays) | {t_html:.2f} | | | |
| cold lower bound: the same three steps in a new process (imports of pandas, scikit-learn, MLflow and its store included) | {t_cold:.2f} | | {t_cold / t_lb:.2f}x | {t_cold / t_compare:.1f}x |
| `mlops-nb monitor` end to end (new process: imports included) | {t_cli:.2f} | | {t_cli / t_lb:.2f}x | {t_cli / t_compare:.1f}x |

`mlops-nb monitor` / cold lower bound: **{t_cli / t_cold:.2f}x** — in a new process the imports (MLflow and its SQL store
alone about 2 s) dwarf the drift comparison, so this, not a multiple of `drift.compare`, is the command's overhead.

CPU seconds are this process's (scoring uses OpenMP threads, so CPU can exceed wall). Peak RSS of the `mlops-nb monitor`
processes: {statistics.median(peaks):,.0f} MB (median; max {max(peaks):,.0f} MB). `import mlops_nb.drift` in a new process:
{t_import:.2f} s wall (median of {a.repeats}; `python -c pass` {t_pass:.2f} s): scipy, pandas and pyarrow are imported where used.
Reproduce: `.venv/bin/python bench/monitor_bench.py` (copies the demo, runs `dvc repro`, promotes, measures).
{END}
"""
    print(text)
    if not a.no_write: write_section(text, BEGIN, END)


if __name__ == "__main__":
    main()
