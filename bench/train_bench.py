"""Train step: the demo's default model with ordinal category codes (now) against one-hot columns (before).

On the demo data (train: the years before the last, ~207k rows; test: the last year, ~70k rows) fit
HistGradientBoostingClassifier (default parameters, random_state 42) behind
  - ordinal: mlops_nb.model.build_pipeline as it is (tree ensembles: one ordinal code per category column, 16 inputs)
  - one-hot: the same pipeline with the categories one-hot encoded as before (most-frequent imputation, OneHotEncoder
             with min_frequency=10: ~98 inputs), built here from the same pieces
interleaved (one-hot, ordinal, one-hot, ordinal, ...), and report per variant the median fit time (preprocessing +
estimator), the number of model inputs and the test ROC AUC; ratio = one-hot / ordinal. Both use every core the
machine has (OpenMP), as the train stage does; the load average is recorded, because a loaded 2-core machine makes
OpenMP fits crawl. The table goes to bench/RESULTS.md between the `<!-- train -->` markers.

    .venv/bin/python bench/train_bench.py [--reps 3] [--no-write]
"""
from __future__ import annotations
import argparse, os, platform, statistics, sys, time
from datetime import date
from pathlib import Path

for k, v in dict(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", DVC_NO_ANALYTICS="1", MPLBACKEND="Agg").items():
    os.environ.setdefault(k, v)

import pandas as pd
import sklearn
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_section  # noqa: E402
from mlops_nb.model import _as_text, build_pipeline, make_estimator  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def one_hot_pipeline(numeric, categorical, estimator) -> Pipeline:
    "The pipeline build_pipeline made for every estimator before ordinal codes (the 'before' of this benchmark)."
    cat = make_pipeline(FunctionTransformer(_as_text, feature_names_out="one-to-one"), SimpleImputer(strategy="most_frequent"),
                        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10, sparse_output=False))
    pre = ColumnTransformer([("num", SimpleImputer(strategy="median"), list(numeric)), ("cat", cat, list(categorical))],
                            remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("preprocess", pre), ("model", estimator)])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    d = yaml.safe_load((REPO / "params.yaml").read_text())["data"]
    df = pd.read_parquet(REPO / d["path"])
    last = df[d["time"]].max()
    train, test = df[df[d["time"]] < last], df[df[d["time"]] == last]
    cols = d["numeric"] + d["categorical"]
    X, y, Xt, yt = train[cols], train[d["target"]].astype(int), test[cols], test[d["target"]].astype(int)
    make = {"one-hot": one_hot_pipeline, "ordinal": build_pipeline}
    times, aucs, widths, loads = {k: [] for k in make}, {}, {}, []
    for rep in range(a.reps):
        for name, build in make.items():  # interleaved: one-hot, ordinal, one-hot, ordinal, ...
            pipe = build(d["numeric"], d["categorical"], make_estimator("hist_gradient_boosting", {}))
            loads.append(os.getloadavg()[0])
            t0 = time.perf_counter(); pipe.fit(X, y); times[name].append(time.perf_counter() - t0)
            aucs[name] = roc_auc_score(yt, pipe.predict_proba(Xt)[:, 1])
            widths[name] = pipe[0].transform(Xt.head(5)).shape[1]
            print(f"rep {rep} {name}: fit {times[name][-1]:.1f} s, AUC {aucs[name]:.4f}, {widths[name]} inputs", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    text = f"""<!-- train -->
## Train: the default model's fit, ordinal codes vs one-hot (bench/train_bench.py)

{date.today()}, {platform.machine()}, {os.cpu_count()} cores, scikit-learn {sklearn.__version__}; demo data, {len(X):,} training
rows, {len(Xt):,} test rows; HistGradientBoostingClassifier defaults; median of {a.reps} interleaved fits each;
load average during the runs {min(loads):.1f}–{max(loads):.1f} (median {statistics.median(loads):.1f}).

| categories as | model inputs | fit (median) | test ROC AUC |
|---|---|---|---|
| one-hot (before) | {widths['one-hot']} | {med['one-hot']:.1f} s | {aucs['one-hot']:.4f} |
| ordinal codes (now) | {widths['ordinal']} | {med['ordinal']:.1f} s | {aucs['ordinal']:.4f} |

One-hot / ordinal fit time: **{med['one-hot'] / med['ordinal']:.1f}×**. All fits: one-hot {', '.join(f'{t:.1f}' for t in times['one-hot'])} s;
ordinal {', '.join(f'{t:.1f}' for t in times['ordinal'])} s.
<!-- /train -->
"""
    print(text)
    if not a.no_write: write_section(text, "<!-- train -->", "<!-- /train -->")


if __name__ == "__main__":
    main()
