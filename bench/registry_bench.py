"""Registry benchmark: promote / rollback latency and listing 1,000 versions, on the sqlite store.

Peers are lower bounds in the same run: a bare MLflow `set_registered_model_alias` (what a
promotion must do at least) and a bare `search_model_versions` (what listing must do at
least). Ours adds the role check, the lock, the eligibility checks, downloading and hashing
the artifact, the audit entry and the mirror tags. Peer and ours are interleaved (peer, ours,
peer, ours, ...), medians are reported, and the 1-minute load average is sampled at every turn. The result is written to bench/RESULTS.md
between the `<!-- registry -->` markers; the rest of the file is kept.

    .venv/bin/python bench/registry_bench.py [--versions 1000] [--repeats 5] [--no-write]
"""
import argparse, os, platform, statistics, sys, tempfile, time
from datetime import date
from pathlib import Path

os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
import logging; logging.getLogger("mlflow").setLevel(logging.ERROR)
import warnings; warnings.filterwarnings("ignore")

import mlflow, numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression

from mlops_nb import audit, integrity, registry as R, tracking
from mlops_nb.config import MlflowSettings, Settings

from results import write_section  # bench/results.py

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- registry -->", "<!-- /registry -->"


LOADS: list[float] = []  # 1-minute load average, sampled at every measured turn


def timed(fn) -> float:
    LOADS.append(os.getloadavg()[0])
    t0 = time.perf_counter(); fn(); return time.perf_counter() - t0


def interleaved(peer, ours, repeats):
    "Peer and ours in turns (peer, ours, peer, ours, ...): (peer times, our times)."
    p, o = [], []
    for _ in range(repeats):
        p.append(timed(peer)); o.append(timed(ours))
    return p, o


def run(n_versions: int, repeats: int) -> dict:
    d = Path(tempfile.mkdtemp(prefix="registry_bench."))
    (d / "roles.yaml").write_text("users: {alice: approver}\n")
    S = Settings(mlflow=MlflowSettings(tracking_uri=f"sqlite:///{d}/mlflow.db", model_name="bench"),
                 registry={"identity": "env"}, root=d)  # the bench acts as alice through MLOPS_NB_USER
    os.environ["MLOPS_NB_USER"] = "alice"
    exp = tracking.connect(S)
    X = pd.DataFrame({"a": np.random.default_rng(0).normal(size=50)}); y = (X.a > 0).astype(int)
    with mlflow.start_run(experiment_id=exp) as run_:
        info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", pip_requirements=["scikit-learn"],
                                        serialization_format="cloudpickle")
    c = mlflow.MlflowClient()
    c.create_registered_model("bench")
    t0 = time.perf_counter()
    for i in range(n_versions):
        status = "passed" if i < 2 or i % 3 else "failed"
        c.create_model_version("bench", info.model_uri, run_id=run_.info.run_id,
                               tags={"validation_status": status, "gate.performance.floor.roc_auc":
                                     "pass: 0.9 >= 0.7" if status == "passed" else "FAIL: 0.6 >= 0.7"})
    build_s = time.perf_counter() - t0
    for v in ("1", "2"): integrity.seal_version(S, v)
    R.promote(S, "1", "baseline", user="alice")  # warm-up (imports, first queries)

    bare_alias = lambda: c.set_registered_model_alias("bench", "bench-peer", "2")
    load_start = os.getloadavg()[0]
    prom, roll, alias = [], [], []
    for _ in range(repeats):  # peer, promote, peer, rollback, ...
        alias.append(timed(bare_alias)); prom.append(timed(lambda: R.promote(S, "2", "bench promote", user="alice")))
        alias.append(timed(bare_alias)); roll.append(timed(lambda: R.rollback(S, "bench rollback", user="alice")))
    rows = R.list_versions(S)
    assert len(rows) == n_versions and sum(r["validation_status"] == "failed" for r in rows) > 0
    bare_list, lst = interleaved(lambda: list(c.search_model_versions("name='bench'", max_results=10000)),
                                 lambda: R.list_versions(S), repeats)
    bare_load, load = interleaved(lambda: mlflow.sklearn.load_model("models:/bench@champion"),
                                  lambda: integrity.load_champion(S), repeats)
    med = statistics.median
    assert audit.verify_audit(audit.audit_path(S), R.audit_heads(S)).ok
    return dict(n=n_versions, repeats=repeats, build_s=build_s, promote=med(prom), promote_max=max(prom),
                rollback=med(roll), rollback_max=max(roll), bare_alias=med(alias), list_s=med(lst),
                list_max=max(lst), bare_list=med(bare_list), load_s=med(load), bare_load=med(bare_load),
                audit_lines=len(audit.read_audit(audit.audit_path(S))), load_start=load_start, load_end=os.getloadavg()[0])


def section(r: dict) -> str:
    ms = lambda s: f"{s * 1000:.0f} ms"
    lines = [BEGIN, "## Registry: promote, rollback, list (sqlite store)", "",
             f"`bench/registry_bench.py`, {date.today()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"mlflow {mlflow.__version__}; 1-minute load average {r['load_start']:.1f} at the start, {r['load_end']:.1f} at "
             f"the end, median {statistics.median(LOADS):.1f} (max {max(LOADS):.1f}) over the measured turns.",
             "",
             f"One registered model with {r['n']:,} versions (built with `create_model_version` in {r['build_s']:.0f} s; every "
             "third one tagged `validation_status=failed`), sqlite store in a temp folder, a tiny LogisticRegression artifact. "
             f"Peer and ours interleaved (peer, ours, peer, ours, ...); times are medians of {r['repeats']} (max in brackets; "
             "the alias peer ran before every promote and every rollback). Peers are lower bounds: a bare MLflow call doing only the "
             "registry write/read the action needs. Ours adds the role check, the file lock, re-reading the state, downloading "
             "and hashing the artifact, the audit entry and the mirror tags.",
             "",
             "| case | peer (bare MLflow) | mlops_nb | ratio | goal |",
             "|---|---|---|---|---|",
             f"| promote (approver, gates passed, artifact verified, audited) | `set_registered_model_alias` {ms(r['bare_alias'])} | "
             f"{ms(r['promote'])} ({ms(r['promote_max'])}) | {r['promote'] / r['bare_alias']:.1f}× | ≤ 500 ms: "
             f"**{'met' if r['promote_max'] <= 0.5 else 'NOT met'}** |",
             f"| rollback to the previous champion | `set_registered_model_alias` {ms(r['bare_alias'])} | "
             f"{ms(r['rollback'])} ({ms(r['rollback_max'])}) | {r['rollback'] / r['bare_alias']:.1f}× | ≤ 500 ms: "
             f"**{'met' if r['rollback_max'] <= 0.5 else 'NOT met'}** |",
             f"| list {r['n']:,} versions with gate status | `search_model_versions` {ms(r['bare_list'])} | "
             f"{ms(r['list_s'])} ({ms(r['list_max'])}) | {r['list_s'] / r['bare_list']:.2f}× | ≤ 1 s: "
             f"**{'met' if r['list_max'] <= 1 else 'NOT met'}** |",
             f"| load_champion (hash-verified) | `mlflow.sklearn.load_model('models:/…@champion')` {ms(r['bare_load'])} | "
             f"{ms(r['load_s'])} | {r['load_s'] / r['bare_load']:.2f}× | — |",
             "",
             f"The audit log ended with {r['audit_lines']} entries and verified intact.",
             END]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="print the table, do not touch bench/RESULTS.md")
    a = ap.parse_args(argv)
    text = section(run(a.versions, a.repeats))
    print(text)
    if not a.no_write:
        write_section(text, BEGIN, END)
        print(f"wrote the registry section of {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
