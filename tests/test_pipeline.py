"""End to end: the session's `dvc repro` of the demo project (conftest.built_demo), then reruns in a copy."""
import json, re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import GIT_ID, REPO, copy_built, run
from mlops_nb.core import file_hash

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(built_demo, tmp_path_factory):
    "A copy of the built demo (these tests rerun stages in it) and the stdout of the `dvc repro` that built it."
    root = copy_built(built_demo, tmp_path_factory.mktemp("pipeline"))
    return root, (built_demo.parent / "repro.log").read_text()


def mlflow_client(root):
    import mlflow
    from mlops_nb.config import load_settings
    s = load_settings(root / "settings.ini")
    mlflow.set_tracking_uri(s.tracking_uri); mlflow.set_registry_uri(s.registry_uri)  # for models:/ URIs below
    return mlflow.MlflowClient(s.tracking_uri, s.registry_uri), s


def test_repro_runs_every_stage_and_writes_outputs(demo):
    root, log = demo
    for stage in ("prepare", "train", "evaluate", "explain", "fairness", "gate", "register", "drift"):
        assert f"Running stage '{stage}'" in log
        nb = json.loads((root / f"reports/notebooks/{stage}.ipynb").read_text())
        tags = [t for c in nb["cells"] for t in c["metadata"].get("tags", [])]
        assert "injected-parameters" in tags  # papermill really parameterized it
        assert not any(o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", []))
    for f in ("data/prepared/train.parquet", "data/prepared/test.parquet", "models/model.pkl", "reports/plots/roc.csv"):
        assert (root / f).stat().st_size > 0
    prep = json.loads((root / "reports/data/prepare.json").read_text())
    assert prep["rows_read"] == 277_677 and prep["split"]["method"] == "time"
    assert prep["split"]["current"] == {"column": "year", "from": "2018", "to": "2018"}  # latest year is the test set
    test = pd.read_parquet(root / "data/prepared/test.parquet")
    assert set(test["year"]) == {2018} and set(test["employed"]) == {0, 1}


def test_explain_report_keeps_each_rows_true_outcome_and_shows_labels(demo):
    "The explain stage keeps what happened to each explained row; its notebook shows the page's labelled figures."
    root, _ = demo
    ex = json.loads((root / "reports/explain/explain.json").read_text())
    test = pd.read_parquet(root / "data/prepared/test.parquet")
    loc = ex["local"]
    assert ex["target"] == "employed" and loc["actual"] == test["employed"].iloc[loc["position"]].tolist()
    nb = json.dumps(json.loads((root / "reports/notebooks/explain.ipynb").read_text()))
    assert nb.count('"image/svg+xml"') >= 5 and "plot_waterfall" not in nb  # importance, beeswarm, 3 rows: the page's figures
    from mlops_nb.views_explain import fig_row_waterfall
    from mlops_nb.dashboard_data import value_labels
    title = fig_row_waterfall(ex, 0, value_labels(root)).axes[0].get_title()
    assert title.endswith(f"(actual: employed = {loc['actual'][0]})")
    ticks = [t.get_text() for t in fig_row_waterfall(ex, 0, value_labels(root)).axes[0].get_yticklabels()]
    assert any(re.search(r" = .+ \(\d+\)$", t) for t in ticks), ticks  # a code shown with its label: "SCHL = Bachelor's degree (21)"


def test_prepare_report_draws_the_profile_with_labels(demo):
    "The prepare stage's profile figures come from the library (the notebook stays thin) and name coded groups."
    from mlops_nb import stages
    root, _ = demo
    columns, groups = stages.profile_figures(root)
    assert [ax.get_title() for ax in groups.axes] == ["base rate of 'employed' by SEX", "base rate of 'employed' by RAC1P"]
    assert [t.get_text() for t in groups.axes[0].get_xticklabels()] == ["Male (1)", "Female (2)"]
    assert "AGEP: quantiles" in [ax.get_title() for ax in columns.axes]
    nb = json.loads((root / "reports/notebooks/prepare.ipynb").read_text())
    figures = ["".join(o["data"]["image/svg+xml"]) for c in nb["cells"] for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {})]
    assert len(figures) == 2 and "Female (2)" in "".join(figures)  # SVG: the labels are text in the report


def test_fairness_report_shows_group_names_not_codes(demo):
    "The fairness stage notebook shows the page's tables: 'Female (2)', intervals, the four-fifths reading; no truncated DataFrame."
    root, _ = demo
    nb = json.loads((root / "reports/notebooks/fairness.ipynb").read_text())
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "Female (2)" in html and "Black or African American alone (2)" in html and "selection rate [95% CI]" in html
    assert "rows × " not in html  # no pandas table cut to '2 rows × 21 columns'


def test_metrics_are_dvc_metrics_and_sensible(demo):
    root, _ = demo
    m = json.loads((root / "reports/metrics.json").read_text())
    assert 0.85 < m["roc_auc"] < 1 and 0.75 < m["accuracy"] < 1 and m["n_test"] == 70_131
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], root).stdout)
    assert json.dumps(shown).count(str(m["roc_auc"])[:8]) >= 1


def test_mlflow_run_has_params_metrics_and_lineage(demo):
    root, _ = demo
    client, _ = mlflow_client(root)
    info = json.loads((root / "models/model.json").read_text())
    run_ = client.get_run(info["run_id"])
    assert run_.data.params["train.estimator"] == "hist_gradient_boosting"
    assert re.fullmatch(r"acs-employment hist_gradient_boosting [0-9a-f]{6}", run_.info.run_name)  # recognisable in the UI
    assert client.get_experiment(run_.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    m = json.loads((root / "reports/metrics.json").read_text())
    assert run_.data.metrics["test_roc_auc"] == pytest.approx(m["roc_auc"], abs=1e-12)
    tags = run_.data.tags
    assert tags["git.commit"] == run(["git", "rev-parse", "HEAD"], root).stdout.strip()
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    raw_md5 = next(d["md5"] for d in lock["stages"]["prepare"]["deps"] if d["path"].startswith("data/raw"))
    assert tags["dvc.md5.data/raw/acs_employment_ma.parquet"] == raw_md5  # matches DVC's own record
    assert tags["mlops_nb.model_sha256"] == file_hash(root / "models/model.pkl") == info["sha256"]


def test_copied_project_uses_its_own_artifacts(demo, built_demo):
    "copy_project relocated the MLflow store: every recorded artifact path is inside the copy, none in the original."
    import sqlite3
    root, _ = demo
    con = sqlite3.connect(root / "mlflow.db")
    paths = [v for q in ("SELECT artifact_location FROM experiments", "SELECT artifact_uri FROM runs",
                         "SELECT storage_location FROM model_versions") for (v,) in con.execute(q) if v and "mlartifacts" in v]
    con.close()
    assert len(paths) >= 3 and all(f"{root}/mlartifacts" in p and f"{built_demo}/" not in p for p in paths), paths


def test_registry_alias_and_model_loads(demo):
    root, _ = demo
    client, s = mlflow_client(root)
    mv = client.get_model_version_by_alias(s.mlflow.model_name, "challenger")
    assert str(mv.version) == json.loads((root / "reports/registry.json").read_text())["version"]
    assert mv.tags["validation_status"] == "passed"
    assert mv.tags["gate.performance.floor.roc_auc"].startswith("pass")
    import mlflow.sklearn
    model = mlflow.sklearn.load_model(f"models:/{s.mlflow.model_name}@challenger")
    X = pd.read_parquet(root / "data/prepared/test.parquet").head(50)
    assert model.predict_proba(X).shape == (50, 2)


def test_second_repro_is_a_no_op(demo):
    root, _ = demo
    r = run(["dvc", "repro"], root)
    assert "Running stage" not in r.stdout
    assert "up to date" in r.stdout.lower()


def test_gates_report_and_html(demo):
    root, _ = demo
    from mlops_nb.gates import GateReport
    rep = GateReport.from_dict(json.loads((root / "reports/gates.json").read_text()))
    assert rep.verdict == "pass" and rep.champion is None
    names = [g.name for g in rep.gates]
    assert "performance.floor[roc_auc]" in names and "fairness.equalized_odds_difference[RAC1P]" in names
    assert any("groups 3, 4, 5, 7" in n for n in rep.notes)  # small groups named, never silently dropped
    kept = []
    for stage in ("evaluate", "explain", "fairness", "gate"):
        html = (root / f"reports/html/{stage}.html").read_text()
        assert "<img" in html or stage == "gate"
        assert "from mlops_nb import stages" not in html  # code cells are not in the stakeholder report
        assert not re.search(r'<script[^>]*src="https?://', html)  # nothing loaded from a CDN: it opens offline
        nb = json.loads((root / f"reports/notebooks/{stage}.ipynb").read_text())
        stderr = [l for c in nb["cells"] for o in c.get("outputs", []) if o.get("name") == "stderr"
                  for l in "".join(o["text"]).splitlines() if l.startswith("[mlops_nb]")]
        kept += stderr  # the notebook keeps its messages ...
        assert not any(l in html for l in stderr)  # ... the stakeholder's page does not show them as errors
    assert kept  # (explain and fairness say what they compute)


def test_train_param_change_reruns_train_and_after_but_not_prepare(demo):
    root, _ = demo
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["train"]["hyperparameters"] = {"max_iter": 30}
    p["gates"]["fail_pipeline"] = False  # a weaker model may fail a gate (RAC1P equalized odds): register it anyway
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    r = run(["dvc", "repro"], root)
    ran = re.findall(r"Running stage '(\w+)'", r.stdout)
    assert [s for s in ran if s != "drift"] == ["train", "evaluate", "explain", "fairness", "gate", "register"]
    assert "drift" in ran  # the new model's scores are the reference for prediction drift
    client, s = mlflow_client(root)
    reg = json.loads((root / "reports/registry.json").read_text())
    assert reg["version"] == "2"
    expected = "2" if reg["validation_status"] == "passed" else "1"  # failed versions never get the alias
    assert str(client.get_model_version_by_alias(s.mlflow.model_name, "challenger").version) == expected
    info = json.loads((root / "models/model.json").read_text())
    assert client.get_run(info["run_id"]).data.params["train.hyperparameters.max_iter"] == "30"


def test_dvc_exp_run_with_set_param(demo):
    root, _ = demo
    run(["git", "add", "-A"], root)
    run(["git", *GIT_ID, "commit", "-q", "-m", "max_iter 30"], root)
    r = run(["dvc", "exp", "run", "-S", "evaluate.threshold=0.4"], root)
    ran = re.findall(r"Running stage '(\w+)'", r.stdout)
    assert ran == ["evaluate", "fairness", "gate", "register"]  # threshold changes decisions: not explain
    exps = json.loads(run(["dvc", "exp", "show", "--json"], root).stdout)
    assert "0.4" in json.dumps(exps)
    # DVC's own comparisons show real numbers: the committed run and the experiment each have their metrics
    def metrics_of(entry): return ((entry.get("data") or {}).get("metrics") or {}).get("reports/metrics.json", {}).get("data", {})
    base = next(e for e in exps if e["rev"] != "workspace")
    runs = [x for e in base.get("experiments") or [] for x in e.get("revs", [])]
    assert metrics_of(base).get("roc_auc") and runs and all(metrics_of(x).get("roc_auc") for x in runs), json.dumps(exps)[:2000]
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], root).stdout)["reports/metrics.json"]
    assert diff["positive_rate"]["old"] is not None and diff["positive_rate"]["new"] > diff["positive_rate"]["old"]  # threshold 0.4 selects more
    assert "evaluate.threshold" in run(["dvc", "params", "diff"], root).stdout


def test_status_command_summarises(demo):
    root, _ = demo
    out = run(["mlops-nb", "status"], root).stdout
    assert "pipeline:" in out and "registered model 'acs-employment'" in out and "@challenger" in out
    assert "latest training runs" in out and "acs-employment hist_gradient_boosting" in out and "NaN" not in out


def test_repo_project_files_are_what_init_writes(tmp_path):
    "The top-level params.yaml / dvc.yaml / settings.ini are the demo project made by init (plus one documented edit)."
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_demo", REPO / "tools/make_demo_project.py")
    make_demo = importlib.util.module_from_spec(spec); spec.loader.exec_module(make_demo)
    (tmp_path / "nbs" / "pipeline").mkdir(parents=True)
    make_demo.write_demo_files(tmp_path)
    for f in ("params.yaml", "dvc.yaml", "settings.ini", "contract.yaml"):
        assert (tmp_path / f).read_text() == (REPO / f).read_text(), f"{f} differs: run python tools/make_demo_project.py"
    made = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert made["gates"]["fairness"]["demographic_parity_difference"] is None  # the one demo edit
