"""Explain step: mlops_nb.explain.explain_pipeline against a bare shap explainer call, the lower bound.

On the demo data (train: years before the last, ~207k rows; explained: the last year, ~70k rows) fit the three
estimators of params.yaml with build_pipeline + make_estimator (HistGradientBoosting default parameters,
LogisticRegression, RandomForest with n_estimators=100, min_samples_leaf=5), then time
  - ours:  explain_pipeline(pipe, X, y, sample_size=1000): stratified sample, transform, SHAP, mapping to the
           16 original columns, additivity check against the model's own output (the forest explains fewer rows:
           its sample shrinks to the default forest_budget)
  - bare:  the shap call alone, with the same options, on the same already-transformed 1,000 rows
           (TreeExplainer(model).shap_values(check_additivity=False), interventional with the same background rows
           for the forest; LinearExplainer on the same 200-row transformed background): the lower bound
  - transform: the Pipeline's preprocessing of those rows (and of the background), which any user of shap on a
           Pipeline must also pay
and report the median of 3 interleaved runs of each (ours, bare, transform, ours, bare, ...; the 1-minute load
average sampled at every turn); ratio = ours / bare is our whole overhead, ours / (transform + bare) the
overhead of sampling, mapping and the additivity check (which predicts once more). Fitting is not timed (it runs single-threaded for OpenMP/BLAS, so that other load on a
shared machine does not make it crawl). The table is written to bench/RESULTS.md between the
`<!-- explain -->` markers; the rest of the file is kept.

    .venv/bin/python bench/explain_bench.py [--reps 3] [--sample-size 1000] [--no-write]
"""
from __future__ import annotations
import argparse, os, platform, statistics, sys, time, warnings
from datetime import date
from pathlib import Path

for k, v in dict(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", DVC_NO_ANALYTICS="1", MPLBACKEND="Agg").items():
    os.environ.setdefault(k, v)

import numpy as np
import pandas as pd
import sklearn
from threadpoolctl import threadpool_limits

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # `import shap` warns about matplotlib
    import shap

from mlops_nb.explain import explain_pipeline
from mlops_nb.model import build_pipeline, make_estimator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_section  # bench/results.py

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
DATA = ROOT / "data" / "raw" / "acs_employment_ma.parquet"
BEGIN, END = "<!-- explain -->", "<!-- /explain -->"
NUM = ["AGEP"]
CAT = "SCHL MAR RELP DIS ESP CIT MIG MIL ANC NATIVITY DEAR DEYE DREM SEX RAC1P".split()
MODELS = [("hist_gradient_boosting", {}), ("logistic_regression", {}),
          ("random_forest", {"n_estimators": 100, "min_samples_leaf": 5})]


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


LOADS: list[float] = []  # 1-minute load average, sampled at every turn


def timed(fn, reps: int) -> tuple[float, object]:
    "Median wall time of `reps` calls, and the last result."
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter(); out = fn(); times.append(time.perf_counter() - t)
    return statistics.median(times), out


def bare_calls(pipe, X, e, seed: int = 0):
    """(transform, shap call): the preprocessing of the rows `explain_pipeline` explained (and of the same background
    rows it drew), and the shap call alone, with the same options, on the already-transformed rows."""
    model, pre = pipe[-1], pipe[:-1]
    n_bg = e.explainer_options.get("background", 0)
    Xs = X.iloc[e.positions]
    Xb = X.iloc[np.sort(np.random.default_rng([seed, 1]).choice(len(X), n_bg, replace=False))] if n_bg else None
    transform = lambda: (np.asarray(pre.transform(Xs), dtype=float),
                         np.asarray(pre.transform(Xb), dtype=float) if n_bg else None)
    Zs, Zb = transform()
    if e.explainer == "LinearExplainer":
        return transform, lambda: shap.LinearExplainer(model, shap.maskers.Independent(Zb, max_samples=len(Zb))).shap_values(Zs)
    if n_bg:
        return transform, lambda: shap.TreeExplainer(model, Zb, feature_perturbation="interventional").shap_values(Zs, check_additivity=False)
    return transform, lambda: shap.TreeExplainer(model).shap_values(Zs, check_additivity=False)


def path_dependent_per_row(pipe, X, e, n: int = 20) -> float:
    "Seconds per row of shap's default (path-dependent) TreeExplainer, measured on `n` of the explained rows."
    Zs = np.asarray(pipe[:-1].transform(X.iloc[e.positions[:n]]), dtype=float)
    t = time.perf_counter()
    shap.TreeExplainer(pipe[-1]).shap_values(Zs, check_additivity=False)
    return (time.perf_counter() - t) / n


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sample-size", type=int, default=1000)
    ap.add_argument("--no-write", action="store_true", help="print the table, leave RESULTS.md alone")
    a = ap.parse_args(argv)

    load0 = os.getloadavg()
    df = pd.read_parquet(DATA)
    last = df["year"].max()
    train, test = df[df["year"] < last], df[df["year"] == last]
    Xtr, ytr, X, y = train[NUM + CAT], train["employed"], test[NUM + CAT], test["employed"]
    rows, notes = [], []
    for name, hp in MODELS:
        est = make_estimator(name, hp)
        t = time.perf_counter()
        with threadpool_limits(1):
            pipe = build_pipeline(NUM, CAT, est).fit(Xtr, ytr)
        fit_s = time.perf_counter() - t
        print(f"{type(est).__name__}: fitted on {len(Xtr):,} rows in {fit_s:.0f} s", file=sys.stderr, flush=True)
        e = explain_pipeline(pipe, X, y, sample_size=a.sample_size)  # warm-up; its sample is the one timed below
        transform, call = bare_calls(pipe, X, e)
        times = [(LOADS.append(os.getloadavg()[0]) or timed(lambda: explain_pipeline(pipe, X, y, sample_size=a.sample_size), 1)[0], timed(call, 1)[0],
                  timed(transform, 1)[0]) for _ in range(a.reps)]  # interleaved: each run sees the same machine load
        ours_s, bare_s, tr_s = (statistics.median(t) for t in zip(*times))
        top = ", ".join(list(e.importance)[:3])
        print(f"  explain_pipeline {ours_s:.3f} s, bare {e.explainer} {bare_s:.3f} s, transform {tr_s:.3f} s, "
              f"ratio {ours_s / bare_s:.2f} / {ours_s / (bare_s + tr_s):.2f}; additivity error {e.additivity_error:.1e}; "
              f"top: {top}", file=sys.stderr, flush=True)
        if e.explainer_options.get("feature_perturbation") == "interventional":
            per_row = path_dependent_per_row(pipe, X, e)
            notes.append(f"{type(est).__name__} with shap's default path-dependent TreeExplainer instead: {per_row:.2f} s "
                         f"per row (measured on 20 rows), i.e. about {per_row * a.sample_size / 60:.0f} min for "
                         f"{a.sample_size:,} rows, which is why explain_pipeline uses the interventional algorithm "
                         f"(background of {e.explainer_options['background']} rows) for forests.")
            print("  " + notes[-1], file=sys.stderr, flush=True)
        n_in = len(pipe[:-1].get_feature_names_out())
        rows.append(f"| {type(est).__name__}{' (' + ', '.join(f'{k}={v}' for k, v in hp.items()) + ')' if hp else ''} "
                    f"| {n_in} | {e.explainer} | {e.output} | {e.n_sample:,} | {fmt(bare_s)} | {fmt(tr_s)} | {fmt(ours_s)} | {ours_s / bare_s:.2f}x "
                    f"| {ours_s / (bare_s + tr_s):.2f}x | {e.additivity_error:.1e} | {top} |")
    load1 = os.getloadavg()

    table = "\n".join([
        BEGIN,
        "## Explain: SHAP per original column (`bench/explain_bench.py`)",
        "",
        f"Demo data: fitted on {len(Xtr):,} rows (years < {last}); `sample_size={a.sample_size}` rows stratified from "
        f"the {len(X):,} of {last} (the forest's sample shrinks to its default `forest_budget`); the model's input "
        f"columns (ordinal codes for the tree models, one-hot for the linear one) mapped to {len(NUM + CAT)} original ones. Peer = the bare shap call on the same "
        f"already-transformed rows (lower bound); ours = `explain_pipeline` end to end (sample, transform, SHAP, map, "
        f"additivity check). Interleaved (ours, bare shap, transform, ours, ...), median of {a.reps} turns; {date.today()}, "
        f"{os.cpu_count()} cores, 1-minute load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end, median "
        f"{statistics.median(LOADS):.1f} (max {max(LOADS):.1f}) over the turns.",
        "",
        "| model | model inputs | explainer | output | rows explained | bare shap call | transform (sample + background) "
        "| explain_pipeline | ratio vs bare shap | ratio vs transform + shap | additivity max abs error | top 3 columns |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        *[f"- {n}" for n in notes],
        "",
        f"shap {shap.__version__}, scikit-learn {sklearn.__version__}, Python {platform.python_version()}. "
        "The explain step explains a sample, not the whole test set.",
        END,
    ])
    print(table)
    if not a.no_write:
        write_section(table + "\n", BEGIN, END, RESULTS)
        print(f"wrote {RESULTS}", file=sys.stderr)
    return table


if __name__ == "__main__":
    main()
