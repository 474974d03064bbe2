"""Monitoring end to end: the drift stage in `dvc repro`, then `mlops-nb monitor` on drifted, undrifted and bad batches."""
import json, shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, clean_env, copy_built, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(built_demo, tmp_path_factory):
    "A copy of the session's built demo project (the drift stage included; roles.yaml makes alice an approver)."
    return copy_built(built_demo, tmp_path_factory.mktemp("monitor"))


@pytest.fixture(scope="module")
def champion(project):
    "The demo's challenger promoted to champion by the approver alice."
    version = json.loads((project / "reports/registry.json").read_text())["version"]
    run(["mlops-nb", "models", "promote", "", str(version), "-m", "monitoring tests"], project,
        env=clean_env(MLOPS_NB_USER="alice"))
    return str(version)


@pytest.fixture(scope="module")
def batches(project):
    "An undrifted batch (a sample of the test split) and a drifted one (older people, collapsed categories)."
    test = pd.read_parquet(project / "data/prepared/test.parquet")
    calm = test.sample(5_000, random_state=1).reset_index(drop=True)
    storm = test[test["AGEP"] >= 50].sample(5_000, random_state=1).reset_index(drop=True)  # within the contract's range
    for c in ("SCHL", "MAR", "RELP", "ESP", "CIT", "MIG", "MIL", "ANC"):  # every row gets the column's rarest value
        storm[c] = storm[c].value_counts().index[-1]
    d = project / "batches"; d.mkdir()
    calm.to_parquet(d / "calm.parquet", index=False); storm.to_parquet(d / "storm.parquet", index=False)
    calm.drop(columns=["employed", "year"]).to_csv(d / "calm.csv", index=False)   # CSV: codes become numbers
    calm[["employed"]].to_csv(d / "labels.csv", index=False)
    return d


def monitor(root, *args):
    return run(["mlops-nb", "monitor", *map(str, args)], root, check=False)


def history(root):
    p = root / "monitoring/history.jsonl"
    return [json.loads(l) for l in p.read_text().splitlines()] if p.exists() else []


def state(root):
    "What a failed monitor call must leave untouched."
    m = root / "monitoring"
    files = sorted(str(p.relative_to(m)) for p in m.rglob("*") if p.is_file() and not p.name.endswith(".lock")) if m.exists() else []
    return files, [(m / f).read_bytes() for f in files if f in ("history.jsonl", "metrics.prom")]


def test_drift_stage_writes_reference_report_and_html(project):
    d = json.loads((project / "reports/drift/drift.json").read_text())
    assert d["schema"] == "mlops_nb.drift/1" and d["reference"]["rows"] == 207_546 and d["current"]["rows"] == 70_131
    assert d["reference"]["name"].startswith("train (2015") and d["current"]["name"] == "test (2018)"
    assert {c["column"] for c in d["columns"]} == {"AGEP", "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC",
                                                   "NATIVITY", "DEAR", "DEYE", "DREM", "SEX", "RAC1P"}
    assert d["prediction"]["column"] == "model_score" and d["target"]["column"] == "employed"
    assert any((project / "reports/drift/reference").iterdir())
    page = (project / "reports/html/drift.html").read_text()
    assert page.count("<svg ") == 18 and "<script" not in page
    nb = json.loads((project / "reports/notebooks/drift.ipynb").read_text())
    assert not any(o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", []))
    assert run(["dvc", "status"], project).stdout.strip().endswith("up to date.")


def test_no_champion_yet_is_one_clear_line(project, batches):
    r = monitor(project, batches / "calm.parquet")
    assert r.returncode == 2 and r.stderr.strip().startswith("mlops-nb: no champion yet: run dvc repro, then promote a challenger")
    assert not (project / "monitoring").exists()


def test_undrifted_batch_exits_0_and_is_recorded(project, champion, batches):
    r = monitor(project, batches / "calm.parquet")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "retraining not recommended" in r.stdout and "no dataset drift" in r.stdout
    (rec,) = history(project)
    assert rec["schema"] == "mlops_nb.monitor/1" and rec["model"]["version"] == champion and rec["rows"] == 5_000
    assert rec["window"]["start"] == rec["window"]["end"] == "2018"
    assert rec["dataset_drift"] is False and rec["retrain_recommended"] is False and rec["prediction_drift"]["drifted"] is False
    assert rec["performance"]["roc_auc"] > 0.85 and rec["performance"]["n_labelled"] == 5_000  # labels: data.target column
    report = json.loads((project / rec["report"]).read_text())
    assert report["current"]["rows"] == 5_000 and report["n_drifted"] == rec["n_drifted"]
    import os, stat
    umask = os.umask(0o022); os.umask(umask)
    folder = (project / rec["report"]).parent  # not 0700 (mkdtemp's): other users of a shared server read the reports
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask, folder


def test_csv_batch_with_labels_file(project, champion, batches):
    r = monitor(project, batches / "calm.csv", "--labels", batches / "labels.csv")
    assert r.returncode == 0, r.stdout + r.stderr
    rec = history(project)[-1]
    report = json.loads((project / rec["report"]).read_text())
    cols = {c["column"]: c for c in report["columns"]}
    assert not cols["SCHL"]["drifted"] and cols["SCHL"]["new_categories"] == []  # CSV codes read back as categories
    parquet_rec = history(project)[0]
    assert rec["performance"]["roc_auc"] == pytest.approx(parquet_rec["performance"]["roc_auc"], abs=1e-9)
    assert rec["window"] is None  # no time column in this batch


def test_drifted_batch_recommends_retraining_everywhere(project, champion, batches):
    n = len(history(project))
    r = monitor(project, batches / "storm.parquet")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "DATASET DRIFT" in r.stdout and "RETRAIN RECOMMENDED" in r.stdout and "monitor.fail_on = retrain" in r.stdout
    recs = history(project)
    assert len(recs) == n + 1
    rec = recs[-1]
    assert rec["dataset_drift"] is True and rec["retrain_recommended"] is True and rec["n_drifted"] >= 9
    assert {"AGEP", "SCHL", "MAR"} <= set(rec["drifted_columns"])
    assert any(x.startswith("dataset drift") for x in rec["reasons"])
    # the report: JSON + standalone HTML with one overlay per column
    page = (project / rec["report"]).with_suffix(".html").read_text()
    assert page.count("<svg ") == 18 and "<script" not in page and "Dataset drift" in page
    assert "<p style='color:#cf222e;font-weight:bold;font-size:1.2em'>Retraining recommended: Dataset drift YES" in page  # red, as the CLI's ALERT
    assert r.stdout.startswith("monitor: ALERT: ")
    # Prometheus textfile: the latest batch
    prom = (project / "monitoring/metrics.prom").read_text()
    assert f'mlops_nb_retrain_recommended{{model="acs-employment",version="{champion}"}} 1.0' in prom
    assert f'mlops_nb_drift_share{{model="acs-employment",version="{champion}"}} {float(rec["share_drifted"])!r}' in prom
    assert 'column="AGEP"' in prom and "mlops_nb_monitor_last_run_timestamp_seconds" in prom
    # MLflow: a run tagged monitor=true with the same numbers
    import mlflow
    from mlops_nb.config import load_settings
    s = load_settings(project / "settings.ini")
    client = mlflow.MlflowClient(s.tracking_uri)
    run_ = client.get_run(rec["mlflow_run_id"])
    assert run_.data.tags["monitor"] == "true" and run_.data.tags["model.version"] == champion
    assert run_.data.metrics["drift_share"] == pytest.approx(rec["share_drifted"])
    assert run_.data.metrics["retrain_recommended"] == 1.0
    arts = {a.path for a in client.list_artifacts(run_.info.run_id, "monitor")}
    assert arts == {"monitor/drift.json", "monitor/drift.html"}
    monitors = client.search_runs([run_.info.experiment_id], "tags.monitor = 'true'")
    assert {r["mlflow_run_id"] for r in recs} == {m.info.run_id for m in monitors}  # one run per batch


def test_fail_on_never_exits_0(project, champion, batches):
    p = project / "params.yaml"
    text = p.read_text()
    try:
        p.write_text(text.replace("fail_on: retrain", "fail_on: never"))
        r = monitor(project, batches / "storm.parquet")
        assert r.returncode == 0 and "RETRAIN RECOMMENDED" in r.stdout
    finally:
        p.write_text(text)


@pytest.mark.parametrize("case, message", [
    ("missing", "batches/nope.parquet: data file not found"),
    ("format", "unsupported format '.json'"),
    ("columns", "lacks column(s) 'AGEP'"),
    ("labels_rows", "labels for a batch of 5,000 rows"),
    ("labels_name", "--labels 'emplyed' is neither a column of the batch nor a file"),
    ("no_reference", "no drift reference yet: run `dvc repro`"),
])
def test_bad_inputs_fail_cleanly_and_write_nothing(project, champion, batches, case, message):
    before = state(project)
    args = {"missing": ["batches/nope.parquet"], "format": [batches / "batch.json"], "columns": [batches / "noage.csv"],
            "labels_rows": [batches / "calm.parquet", "--labels", batches / "short.csv"],
            "labels_name": [batches / "calm.parquet", "--labels", "emplyed"], "no_reference": [batches / "calm.parquet"]}[case]
    (batches / "batch.json").write_text("{}")
    pd.read_csv(batches / "calm.csv").drop(columns=["AGEP"]).to_csv(batches / "noage.csv", index=False)
    pd.read_csv(batches / "labels.csv").head(10).to_csv(batches / "short.csv", index=False)
    ref, moved = project / "reports/drift/reference", project / "reports/drift/reference.moved"
    if case == "no_reference": ref.rename(moved)
    try:
        r = monitor(project, *args)
    finally:
        if moved.exists(): moved.rename(ref)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlops-nb: ") and message in lines[0], r.stderr
    assert state(project) == before  # no report, no history line, metrics.prom unchanged
