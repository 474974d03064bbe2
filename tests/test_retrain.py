"""`mlops-nb retrain` (issue 17, point 6): served rows with outcomes become training data and the pipeline runs again.

A copy of the small built project (conftest `fair_built`) serves 400 rows of a sub-population (x1 > 0.3: its drift is
what monitoring should flag); the rows are logged as the service logs them, one request each, and their outcomes are
added by request id. Monitoring the log recommends retraining; `retrain` appends the rows to the training file as a
new DVC version, commits it, records it in the audit log and runs `dvc repro`, which registers version 2."""
import json, subprocess

import pandas as pd
import pytest
import yaml

from conftest import copy_built, synthetic

pytestmark = pytest.mark.slow


def _serve_and_log(root, rows):
    "Score and log `rows` as `mlops-nb serve` does (one request per row); the request ids."
    from mlops_nb.config import load_params, load_settings
    from mlops_nb.prediction_log import PredictionLog, log_rows
    from mlops_nb.serve import check_request, load_served, score_frame
    from mlops_nb.tracking import connect
    p, s = load_params(root / "params.yaml"), load_settings(root / "settings.ini"); connect(s)
    served, plog, rids = load_served(s, p), PredictionLog(root), []
    for i in range(len(rows)):
        df = check_request(root, rows.iloc[[i]].reset_index(drop=True), served, p)
        plog.append(log_rows(df, score_frame(served, df, p), served, p, f"req-{i:04d}", "serve")); rids.append(f"req-{i:04d}")
    plog.close()
    return rids


def test_retrain_adds_the_labelled_window_as_a_new_data_version_and_reruns(fair_built, tmp_path, capsys):
    import mlflow
    from mlops_nb.audit import audit_path, read_audit
    from mlops_nb.cli import main
    from mlops_nb.config import load_settings
    root = copy_built(fair_built, tmp_path, "p")
    s = load_settings(root / "settings.ini")
    mlflow.MlflowClient(s.tracking_uri, s.registry_uri).set_registered_model_alias(s.mlflow.model_name, "champion", "1")
    params = yaml.safe_load((root / "params.yaml").read_text())  # a gate failing on the new test period still registers
    params["gates"]["fail_pipeline"] = False; (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    data = root / "data/raw/p.csv"
    before = pd.read_csv(data)
    live = synthetic(4000, seed=7).query("x1 > 0.3").head(400).reset_index(drop=True)
    rids = _serve_and_log(root, live.drop(columns=["y", "period"]))
    assert main(["retrain", "--force", "--no-run", "--root", str(root)]) == 2  # served, but no outcome yet
    assert "none of the 400 logged rows" in capsys.readouterr().err and pd.read_csv(data).equals(before)
    pd.DataFrame({"request_id": rids, "y": live["y"]}).to_csv(tmp_path / "outcomes.csv", index=False)
    assert main(["labels", "add", str(tmp_path / "outcomes.csv"), "--key", "request_id", "--root", str(root)]) == 0

    assert main(["retrain", "--root", str(root)]) == 2  # no monitoring result yet: refused, nothing changed
    assert "run `mlops-nb monitor --from-log`" in capsys.readouterr().err and pd.read_csv(data).equals(before)
    assert main(["monitor", "--from-log", "--root", str(root)]) == 1  # the sub-population drifted: retraining recommended
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()

    assert main(["retrain", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    after = pd.read_csv(data)
    assert len(after) == len(before) + 400 and after.dtypes.to_dict() == before.dtypes.to_dict()
    new = after.iloc[len(before):].reset_index(drop=True)
    pd.testing.assert_frame_equal(new[["x1", "x2", "group", "y"]], live[["x1", "x2", "group", "y"]], check_dtype=False)
    assert (new["period"] == before["period"].max() + 1).all()  # the served rows are a new period
    dvc_md5 = yaml.safe_load((root / "data/raw/p.csv.dvc").read_text())["outs"][0]["md5"]
    import hashlib
    assert dvc_md5 == hashlib.md5(data.read_bytes()).hexdigest() and f"md5 {dvc_md5}" in out
    log = subprocess.run(["git", "log", "--format=%s", f"{head}..HEAD", "--name-only"], cwd=root, capture_output=True, text=True).stdout
    assert log.split("\n")[0].startswith("mlops-nb retrain: +400 labelled rows") and "data/raw/p.csv.dvc" in log
    [e] = [e for e in read_audit(audit_path(s)) if e["action"] == "retrain"]  # then the register stage's entry
    assert (e["outcome"], e["version"]) == ("done", "1") and e["user"] and dvc_md5 in e["comment"]
    reg = json.loads((root / "reports/registry.json").read_text())
    assert reg["version"] == "2" and f"registered version 2" in out  # the pipeline ran: a new version, gated as usual

    assert main(["retrain", "--force", "--no-run", "--root", str(root)]) == 2  # the same window again: nothing new
    assert "nothing new to train on" in capsys.readouterr().err and len(pd.read_csv(data)) == len(after)
