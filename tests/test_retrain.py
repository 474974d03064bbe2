"""`mlops-nb retrain` (issue 17, point 6): served rows with outcomes become training data and the pipeline runs again.

A copy of the small built project (conftest `fair_built`) serves 400 rows of a sub-population (x1 > 0.3: its drift is
what monitoring should flag); the rows are logged as the service logs them, one request each, and their outcomes are
added by request id. Monitoring the log recommends retraining; `retrain` appends the rows to the training file as a
new DVC version, commits it, records it in the audit log and runs `dvc repro`, which registers version 2."""
import json, subprocess, sys

import pandas as pd
import pytest
import yaml

from conftest import GIT_ID, copy_built, synthetic

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


# ---------------------------------------------------------------- when git, DVC or `dvc add` is not there to help
# One labelled copy of the small project (12 served rows with outcomes), copied again by each test; `--no-run` stops
# before `dvc repro`, so no test here trains.

@pytest.fixture(scope="module")
def labelled(fair_built, tmp_path_factory):
    from mlops_nb.cli import main
    import mlflow
    from mlops_nb.config import load_settings
    root = copy_built(fair_built, tmp_path_factory.mktemp("labelled"), "p")
    s = load_settings(root / "settings.ini")
    mlflow.MlflowClient(s.tracking_uri, s.registry_uri).set_registered_model_alias(s.mlflow.model_name, "champion", "1")
    live = synthetic(400, seed=3).head(12).reset_index(drop=True)
    rids = _serve_and_log(root, live.drop(columns=["y", "period"]))
    pd.DataFrame({"request_id": rids, "y": live["y"]}).to_csv(root.parent / "outcomes.csv", index=False)
    assert main(["labels", "add", str(root.parent / "outcomes.csv"), "--key", "request_id", "--root", str(root)]) == 0
    return root


def _state(root):
    "What a failed retrain must leave as it was: the training file, its .dvc file, the ledger of added rows, retrain audit entries."
    from mlops_nb.audit import audit_path, read_audit
    from mlops_nb.config import load_settings
    files = {p: (root / p).read_bytes() if (root / p).exists() else None
             for p in ("data/raw/p.csv", "data/raw/p.csv.dvc", "data/raw/.gitignore", "monitoring/retrained.parquet")}
    audit = [e for e in read_audit(audit_path(load_settings(root / "settings.ini"))) if e["action"] == "retrain"]
    return files, audit, sorted(p.name for p in root.iterdir())  # no backup folder left behind


def _git(root, *args):
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def test_retrain_without_git_or_dvc_says_what_it_did_and_did_not(labelled, tmp_path, capsys):
    "A project made by `init --no-git`: nothing to version with, no `dvc repro` to run."
    import shutil
    from mlops_nb.cli import main
    root = copy_built(labelled, tmp_path, "p")
    for p in (".git", ".dvc"): shutil.rmtree(root / p)
    (root / "data/raw/p.csv.dvc").unlink()
    before = _state(root)
    assert main(["retrain", "--force", "--root", str(root)]) == 2  # refused before anything changes
    err = capsys.readouterr().err
    assert "is not a DVC project (no .dvc/ folder): retrain cannot version data/raw/p.csv nor run `dvc repro`" in err
    assert "`mlops-nb retrain --no-run`" in err and _state(root) == before

    assert main(["retrain", "--force", "--no-run", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "data/raw/p.csv: +12 labelled rows" in out
    assert "no DVC in this project: data/raw/p.csv was changed in place (no data version)" in out
    assert "not a git repository: nothing committed\n" in out and "run `dvc repro`" in out
    assert len(pd.read_csv(root / "data/raw/p.csv")) == len(pd.read_csv(labelled / "data/raw/p.csv")) + 12
    [e] = _state(root)[1]
    assert "+12 rows" in e["comment"] and "DVC md5 None, git None" in e["comment"]


def test_retrain_in_a_dvc_project_without_git(labelled, tmp_path, capsys):
    """DVC refuses to work in a project that lost its git repository: the retrain changes nothing and says how to go on;
    with DVC told to work without git, the new version is made and left for the user to commit."""
    import hashlib, shutil
    from mlops_nb.cli import main
    root = copy_built(labelled, tmp_path, "p")
    shutil.rmtree(root / ".git")
    before = _state(root)
    assert main(["retrain", "--force", "--no-run", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "`dvc add data/raw/p.csv` failed" in err and "is not a git repository" in err, err
    assert "`git init` it (and commit), or let DVC work without git: `dvc config core.no_scm true`" in err
    assert "data/raw/p.csv and monitoring/retrained.parquet are back as they were" in err and _state(root) == before

    subprocess.run([sys.executable, "-m", "dvc", "config", "core.no_scm", "true"], cwd=root, check=True)
    assert main(["retrain", "--force", "--no-run", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    md5 = hashlib.md5((root / "data/raw/p.csv").read_bytes()).hexdigest()
    assert f"new DVC version: md5 {md5}" in out and md5 in (root / "data/raw/p.csv.dvc").read_text()
    assert "not a git repository: nothing committed (commit data/raw/p.csv.dvc to keep this version)" in out


def test_a_failing_dvc_add_changes_nothing_and_the_retrain_can_be_repeated(labelled, tmp_path, capsys):
    from mlops_nb.cli import main
    root = copy_built(labelled, tmp_path, "p")
    config = (root / ".dvc/config").read_text()
    (root / ".dvc/config").write_text("[core\n" + config)  # a broken DVC configuration: `dvc add` fails for real
    before, head, status = _state(root), _git(root, "rev-parse", "HEAD"), _git(root, "status", "--porcelain")
    assert main(["retrain", "--force", "--no-run", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "retrain stopped while making the new data version: `dvc add data/raw/p.csv` failed" in err and "config file error" in err, err
    assert "back as they were, nothing was committed or recorded in the audit log" in err and "`dvc doctor`" in err
    assert (_state(root), _git(root, "rev-parse", "HEAD"), _git(root, "status", "--porcelain")) == (before, head, status)

    (root / ".dvc/config").write_text(config)  # fixed: the same command adds the same rows (the ledger was put back too)
    assert main(["retrain", "--force", "--no-run", "--root", str(root)]) == 0
    assert "+12 labelled rows" in capsys.readouterr().out
    assert _git(root, "log", "-1", "--format=%s").startswith("mlops-nb retrain: +12 labelled rows")


def test_retrain_commits_a_training_file_that_git_tracks(labelled, tmp_path, capsys):
    "Small data kept in git (as in the demo): DVC refuses to add it; the new version is a git commit of the file."
    from mlops_nb.cli import main
    root = copy_built(labelled, tmp_path, "p")
    _git(root, "rm", "-q", "--cached", "data/raw/p.csv.dvc"); (root / "data/raw/p.csv.dvc").unlink()
    (root / "data/raw/.gitignore").write_text("")
    _git(root, "add", "data/raw/p.csv", "data/raw/.gitignore"); _git(root, *GIT_ID, "commit", "-qm", "data in git")
    assert main(["retrain", "--force", "--no-run", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "new git version of data/raw/p.csv (git tracks the file, not DVC)" in out, out
    assert _git(root, "show", "--format=%s", "--name-only", "HEAD").split()[-1] == "data/raw/p.csv"
    assert _git(root, "status", "--porcelain", "data/raw") == ""


def test_since_is_read_as_an_instant_and_a_date_that_is_none_refused(labelled, tmp_path, capsys):
    "`--since` compared as text with the log's UTC times matched no row for 'yesterday', and the wrong rows across offsets."
    from datetime import timedelta, timezone
    from mlops_nb.cli import main
    from mlops_nb.prediction_log import read_log
    root = copy_built(labelled, tmp_path, "p")
    for cmd in (["retrain", "--force", "--no-run"], ["monitor", "--from-log"], ["shadow-report"]):
        with pytest.raises(SystemExit) as e: main([*cmd, "--since", "yesterday", "--root", str(root)])
        assert e.value.code == 2 and "argument --since: 'yesterday' is not an ISO date or time" in capsys.readouterr().err
    first = pd.Timestamp(read_log(root)["time"].min()).to_pydatetime()
    since = (first - timedelta(minutes=1)).astimezone(timezone(timedelta(hours=1))).isoformat()  # before every row; as text, after
    assert main(["retrain", "--force", "--no-run", "--since", since, "--root", str(root)]) == 0
    assert "+12 labelled rows" in capsys.readouterr().out
