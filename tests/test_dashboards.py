"""Dashboards (mlops_nb.panels, .static_report, .dashboards on mlops_nb.views, .dashboard_data, .results): panels built from result files show the numbers of those files,
empty states and incompatible files are clear messages, actions go through the registry library
(which refuses a viewer even when the button is forced), the static report, and each dashboard
notebook executed with papermill.

Two projects: a small synthetic one (always; result files written here in the pipeline's schemas,
two registered versions in a throw-away sqlite store) and a copy of the results of the session's built
demo (reports/, mlflow.db, audit/ of conftest.built_demo).
Nothing here touches the repository's own mlflow.db or audit log."""
import json, os, re, shutil, subprocess, sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", DVC_NO_ANALYTICS="1", MPLBACKEND="Agg",
                  MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
for _v in ("JUPYTERHUB_USER", "MLOPS_NB_USER", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLOPS_NB_ROOT"):
    os.environ.pop(_v, None)

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("ipywidgets")
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression

from mlops_nb import dashboard_data, dashboards, integrity, panels as P, registry as R, results, static_report, tracking
from mlops_nb.config import MlflowSettings, Settings, load_settings
from mlops_nb.core import MlopsError
from mlops_nb.results import log_version_results


# ---------------------------------------------------------------- helpers

def texts(w) -> str:
    "All HTML/text values in a widget tree."
    out = [w.value if isinstance(getattr(w, "value", None), str) else ""]
    for c in getattr(w, "children", ()): out.append(texts(c))
    return "\n".join(out)

def find(w, cls):
    "Widgets carrying the CSS class `cls`."
    if cls in getattr(w, "_dom_classes", ()): yield w
    for c in getattr(w, "children", ()): yield from find(c, cls)

def one(w, cls):
    found = list(find(w, cls))
    assert len(found) == 1, f"{cls}: {len(found)} widgets"
    return found[0]

def strip(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)

def col(name, stat, drifted, kind="numeric"):
    return {"column": name, "kind": kind, "test": "wasserstein", "statistic": stat, "stat_kind": "distance", "threshold": 0.1,
            "drifted": drifted, "psi": stat / 2, "missing": {"reference": 0.0, "current": 0.01}, "new_categories": [],
            "out_of_range": {"below": 0, "above": 1, "share": 0.001},
            "histogram": {"edges": [0, 1, 2, 3], "categories": None, "reference": [.3, .4, .3], "current": [.2, .4, .4]}}

DRIFT = {"schema": "mlops_nb.drift/1", "created": "2026-11-26T10:00:00Z", "mode": "exact",
         "reference": {"name": "train (2015-2017)", "rows": 800}, "current": {"name": "test (2018)", "rows": 200, "window": None},
         "threshold_share": 0.5, "n_columns": 4, "n_drifted": 2, "share_drifted": 0.5, "dataset_drift": True,
         "columns": [col("AGE", 0.05, False), col("HOURS", 0.31, True), col("WAGE", 0.09, False),
                     {**col("SCHL", 0.001, True, "categorical"), "test": "chi2", "stat_kind": "p_value", "threshold": 0.05,
                      "histogram": {"edges": None, "categories": ["16", "19", "21"], "reference": [.3, .4, .3], "current": [.2, .3, .5]}}],
         "findings": [{"column": "HOURS", "kind": "out_of_range", "message": "1 value above the reference range", "count": 1, "share": 0.005}],
         "prediction": col("prediction", 0.02, False), "target": None}

def history_line(i, share, drift):
    return {"schema": "mlops_nb.monitor/1", "batch": f"b{i}", "source": f"b{i}.parquet", "sha256": "0" * 64, "created": f"2026-11-2{i}T00:00:00Z",
            "window": None, "rows": 100 * i, "model": {"name": "demo", "version": "1", "alias": "champion"}, "n_drifted": int(share * 3),
            "share_drifted": share, "dataset_drift": drift, "prediction_drift": {"test": "ks", "statistic": 0.1, "drifted": drift},
            "performance": None, "retrain_recommended": drift, "reasons": [], "report": f"monitoring/reports/b{i}/drift.json"}


def write_results(d: Path, version: str):
    "Result files of the synthetic project, in the schemas the pipeline writes."
    for sub in ("reports/explain", "reports/fairness", "reports/drift", "monitoring"): (d / sub).mkdir(parents=True, exist_ok=True)
    feats = ["AGE", "SEX", "HOURS"]
    rng = np.random.default_rng(1)
    vals = rng.normal(size=(30, 3)).round(4).tolist()
    expl = {"schema": "mlops_nb.explain/1", "explainer": "TreeExplainer", "model": "demo", "unit": "log-odds", "expected_value": -0.25,
            "features": feats, "importance": {"AGE": 0.9, "SEX": 0.05, "HOURS": 0.3}, "n_rows": 300, "n_sample": 30, "stratified": True,
            "additivity": {"max_abs_error": 1e-12},
            "local": {"n": 30, "index": list(range(500, 530)), "position": list(range(30)), "output": [-0.25 + sum(v) for v in vals],
                      "values": vals, "data": {"AGE": [20 + i for i in range(30)], "SEX": [str(1 + i % 2) for i in range(30)],
                                               "HOURS": [float(10 + i) for i in range(30)]}}}
    (d / "reports/explain/explain.json").write_text(json.dumps(expl))
    pd.DataFrame({"position": range(30), **{f"shap_{f}": [v[j] for v in vals] for j, f in enumerate(feats)},
                  "output": expl["local"]["output"], "expected_value": -0.25}).to_parquet(d / "reports/explain/local.parquet")
    def grp(g, n, sr, tpr, fpr):
        m = {"selection_rate": sr, "tpr": tpr, "fpr": fpr, "accuracy": 0.8, "precision": 0.7}
        return {"group": g, "included": n >= 20, "count": n, **m, "ci": {k: [v - .02, v + .02] for k, v in m.items()}}
    fair = {"schema": "mlops_nb.fairness/1", "n": 300, "min_group_size": 20, "n_boot": 50, "ci": 0.95, "seed": 0,
            "overall": {"count": 300, "selection_rate": 0.5},
            "features": {"SEX": {"feature": "SEX", "columns": ["SEX"], "groups": [grp("1", 150, .52, .81, .21), grp("2", 150, .47, .77, .13)],
                                 "excluded": [], "summary": {"equalized_odds_difference": {"value": 0.08, "ci": [0.05, 0.11]},
                                                             "demographic_parity_difference": {"value": 0.05, "ci": [0.01, 0.09]}}},
                         "RACE": {"feature": "RACE", "columns": ["RACE"], "groups": [grp("A", 280, .5, .8, .2), grp("B", 12, .4, .6, .1)],
                                  "excluded": [{"group": "B", "count": 12}], "summary": {"equalized_odds_difference": {"value": 0.0, "ci": [0, 0]}}}},
            "notes": {"four_fifths_rule": "a US heuristic"}}
    (d / "reports/fairness/fairness.json").write_text(json.dumps(fair))
    (d / "reports/fairness/mitigation.json").write_text(json.dumps({"schema": "mlops_nb.mitigation/1", "method": None, "rows": []}))
    gates = {"schema": "mlops_nb.gates/1", "verdict": "pass", "notes": ["RACE: group B has fewer than 20 rows"], "gates": [
        {"name": "performance.floor[roc_auc]", "family": "performance", "metric": "roc_auc", "value": 0.91, "threshold": 0.7, "comparison": ">=", "passed": True, "evidence": {}},
        {"name": "fairness.equalized_odds_difference[SEX]", "family": "fairness", "metric": "equalized_odds_difference", "value": 0.08,
         "threshold": 0.1, "comparison": "<=", "passed": True, "evidence": {}}]}
    (d / "reports/gates.json").write_text(json.dumps(gates))
    (d / "reports/drift/drift.json").write_text(json.dumps(DRIFT))
    (d / "monitoring/history.jsonl").write_text("\n".join(json.dumps(history_line(i, s, dr)) for i, s, dr in ((1, 0.0, False), (2, 1 / 3, False), (3, 2 / 3, True))) + "\n")
    for i, s, dr in ((1, 0.0, False), (2, 1 / 3, False), (3, 2 / 3, True)):  # each batch's own report, as `mlops-nb monitor` writes it
        (d / f"monitoring/reports/b{i}").mkdir(parents=True, exist_ok=True)
        (d / f"monitoring/reports/b{i}/drift.json").write_text(json.dumps({**DRIFT, "dataset_drift": dr, "n_drifted": int(s * 3), "share_drifted": s,
                                                                          "monitor": {k: v for k, v in history_line(i, s, dr).items() if k != "report"}}))
    (d / "reports/registry.json").write_text(json.dumps({"schema": "mlops_nb.registry/1", "name": "demo", "version": version}))


def make_project(d: Path, versions=(0.88, 0.91), promote_first=True) -> Settings:
    """settings.ini, roles.yaml, results and registered versions (v1 champion, v2 challenger) in `d`; each version's results kept
    with it under versions/N/ (an older layout, reports/explain.json in the run, is there too and must not be read)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "settings.ini").write_text(f"[mlflow]\ntracking_uri = sqlite:///{d}/mlflow.db\nmodel_name = demo\nexperiment = demo\n"
                                    f"artifact_root = {d}/mlartifacts\n[registry]\nidentity = env\n")  # acts as MLOPS_NB_USER, like the demo
    (d / "params.yaml").write_text("{}\n")
    (d / "roles.yaml").write_text("users: {alice: approver, dana: data-scientist, root: admin}\ndefault: viewer\n")
    S = load_settings(d / "settings.ini")
    tracking.connect(S)
    vs = []
    for seed, auc in enumerate(versions):
        X = pd.DataFrame({"a": np.random.default_rng(seed).normal(size=30)}); y = (X.a > 0).astype(int)
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", pip_requirements=["scikit-learn"],
                                            serialization_format="cloudpickle")
            mlflow.log_params({"C": str(seed + 1)}); mlflow.set_tags({"git.commit": f"commit{seed}", "params.md5": f"md5{seed}"})
            mlflow.log_dict({"schema": "mlops_nb.explain/1", "unit": "log-odds", "importance": {"AGE": 0.5, "SEX": 0.2 + seed, "HOURS": 0.1}},
                            "reports/explain.json")
        mv = mlflow.register_model(info.model_uri, "demo", tags={"validation_status": "passed", "test_roc_auc": str(auc), "test_accuracy": "0.8"})
        integrity.seal_version(S, mv.version); vs.append(str(mv.version))
        write_results(d, vs[-1])
        log_version_results(S, run.info.run_id, vs[-1], d)  # as the register stage does: the version's results kept with it
    if promote_first and vs:
        os.environ["MLOPS_NB_USER"] = "alice"
        try: R.promote(S, vs[0], "first model", user="alice")
        finally: os.environ.pop("MLOPS_NB_USER", None)
    if len(vs) > 1: mlflow.MlflowClient().set_registered_model_alias("demo", "challenger", vs[-1])
    if not vs: write_results(d, "1")
    return S


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    d = tmp_path_factory.mktemp("dash") / "proj"
    S = make_project(d)
    return d, S


@pytest.fixture(scope="module")
def repo_demo(built_demo, tmp_path_factory):
    "The results of the session's built demo (conftest.built_demo), copied without its notebooks; its artifacts read in place."
    d = tmp_path_factory.mktemp("repo_demo")
    for f in ("settings.ini", "params.yaml", "roles.yaml", "mlflow.db"): shutil.copy2(built_demo / f, d / f)
    shutil.copytree(built_demo / "reports", d / "reports", ignore=shutil.ignore_patterns("notebooks", "html", "cards", "dashboards"))
    if (built_demo / "audit/audit.jsonl").exists():
        (d / "audit").mkdir(); shutil.copy2(built_demo / "audit/audit.jsonl", d / "audit/audit.jsonl")
    return d


# ---------------------------------------------------------------- readers

def test_read_result_checks_schema_and_names_the_stage(tmp_path):
    (tmp_path / "reports/explain").mkdir(parents=True)
    (tmp_path / "reports/explain/explain.json").write_text(json.dumps({"schema": "mlops_nb.explain/2"}))
    with pytest.raises(MlopsError, match=r"has schema 'mlops_nb.explain/2'; mlops_nb .* reads 'mlops_nb.explain/1'"):
        results.read_result(tmp_path, "explain")
    (tmp_path / "reports/explain/explain.json").write_text(json.dumps({"importance": {}}))
    with pytest.raises(MlopsError, match="has no 'schema' key"): results.read_result(tmp_path, "explain")
    (tmp_path / "reports/explain/explain.json").write_text("{not json")
    with pytest.raises(MlopsError, match="not valid JSON"): results.read_result(tmp_path, "explain")
    with pytest.raises(MlopsError, match="reports/gates.json not found .* the gate stage writes it"): results.read_result(tmp_path, "gates")
    (tmp_path / "monitoring").mkdir()
    (tmp_path / "monitoring/history.jsonl").write_text(json.dumps(history_line(1, 0, False)) + "\n" + json.dumps({"schema": "x/1"}) + "\n")
    with pytest.raises(MlopsError, match="history.jsonl line 2 has schema 'x/1'"): results.read_result(tmp_path, "history")


def test_deep_link_query_is_parsed_and_checked(monkeypatch):
    assert dashboard_data.parse_query("model=acs-employment&version=7") == {"model": "acs-employment", "version": "7"}
    for bad in ("version=7%3Bimport%20os", "version=-1", "model=%3Cscript%3E"):
        with pytest.raises(MlopsError, match="in the link"): dashboard_data.parse_query(bad)
    monkeypatch.setenv("QUERY_STRING", "version=3")
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    assert dashboard_data.request_args() == {"model": None, "version": "3"}


# ---------------------------------------------------------------- panels on the synthetic project

def test_registry_panel_shows_versions_comparison_and_history(project):
    d, S = project
    p = P.registry_panel(d, user="dana")
    t = texts(p)
    table = one(p, "mlops-registry-versions").value
    assert table.count("<tr>") == 1 + 2  # header + two versions
    assert "Champion: <b>v1</b>" in one(p, "mlops-champion-line").value
    assert one(p, "mlops-challenger-select").value == "2"  # @challenger preselected
    metrics = texts(one(p, "mlops-compare"))
    assert "0.88" in metrics and "0.91" in metrics and "+0.0300" in metrics  # both AUCs and the delta
    assert "performance.floor[roc_auc]" in t and "equalized_odds_difference" in t  # gates of v2 (kept with v2)
    assert "commit0" in t and "commit1" in t and "mlops-params-diff" in t  # lineage + params diff
    assert "dana" in one(p, "mlops-identity").value and "view only" in one(p, "mlops-identity").value
    assert "first model" in one(p, "mlops-audit").value
    assert "mlops-latest-drift" in t and "b3" in t  # latest monitored batch


def test_registry_deep_link_and_bad_version(project):
    d, _ = project
    p = P.registry_panel(d, version="1", user="alice")
    assert one(p, "mlops-challenger-select").value == "1"
    assert one(p, "mlops-promote-btn").disabled  # v1 is already champion
    e = P.registry_panel(d, version="99", user="alice")
    assert "version 99 of 'demo' does not exist" in texts(e)


def test_buttons_follow_roles_and_library_refuses_a_forced_click(project, monkeypatch):
    d, S = project
    monkeypatch.setenv("MLOPS_NB_USER", "dana")  # who acts (the project trusts MLOPS_NB_USER)
    v = P.registry_panel(d, user="dana")  # data-scientist: may not promote
    one(v, "mlops-comment").value = "let me"
    btn = one(v, "mlops-promote-btn")
    assert btn.disabled and "may not promote" in btn.tooltip
    btn.disabled = False  # a tampered client
    btn.click()
    status = one(v, "mlops-action-status").value
    assert "mlops-error" in status and "dana (role data-scientist" in status and "may not promote" in status
    assert integrity.load_champion(S) is not None and str(R.list_versions(S)[1]["aliases"]) == "['champion']"  # v1 still champion
    assert R.history(S, include_refused=True)[-1]["outcome"] == "refused"
    a = P.registry_panel(d, user="alice")
    assert one(a, "mlops-promote-btn").disabled  # no comment yet
    one(a, "mlops-comment").value = "ok"
    assert not one(a, "mlops-promote-btn").disabled
    assert one(a, "mlops-retire-btn").disabled and "needs admin" in one(a, "mlops-retire-btn").tooltip


def test_promote_and_rollback_through_the_panel(tmp_path, monkeypatch):
    d = tmp_path / "p"
    S = make_project(d)
    monkeypatch.setenv("MLOPS_NB_USER", "alice")
    p = P.registry_panel(d, user="alice")
    one(p, "mlops-comment").value = "v2 is better on AUC"
    one(p, "mlops-promote-btn").click()
    assert "promote: version 2 of demo (was 1) by alice" in one(p, "mlops-action-status").value
    assert "Champion: <b>v2</b>" in one(p, "mlops-champion-line").value  # the view re-read the registry
    assert "v2 is better on AUC" in one(p, "mlops-audit").value
    assert str(integrity.load_champion(S)[1].version) == "2"
    one(p, "mlops-comment").value = "v2 misbehaves"
    rb = one(p, "mlops-rollback-btn"); assert not rb.disabled
    rb.click()
    assert "rollback: version 1" in one(p, "mlops-action-status").value
    assert [e["action"] for e in R.history(S)][-2:] == ["promote", "rollback"]


def test_registry_empty_states(project):
    d, S = project
    assert "No registered model 'nothing' yet" in texts(P.registry_panel(d, model="nothing", user="alice"))
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]}); y = [0, 0, 1, 1]
    tracking.connect(S)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", pip_requirements=["scikit-learn"],
                                        serialization_format="cloudpickle")
    mlflow.register_model(info.model_uri, "solo", tags={"validation_status": "passed"})
    t = texts(P.registry_panel(d, model="solo", user="alice"))
    assert "No champion yet — run `dvc repro`, then approve a challenger" in t


def test_unreachable_registry_is_a_message(tmp_path):
    d = tmp_path / "p"; d.mkdir()
    (d / "settings.ini").write_text("[mlflow]\ntracking_uri = http://127.0.0.1:9\nmodel_name = demo\nrequest_timeout = 1\n")
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    try: t = texts(P.registry_panel(d, user="alice"))
    finally: os.environ.pop("MLFLOW_HTTP_REQUEST_MAX_RETRIES", None)
    assert ("cannot reach the MLflow tracking server" in t or "could not be read" in t) and "tracking_uri" in t and "mlops-error" in t


def test_show_in_sidecar(project):
    pytest.importorskip("sidecar")
    d, _ = project
    sc = P.show_in_sidecar(P.fairness_panel(d), "Fairness")
    assert sc.title == "Fairness"


def test_explain_panel_numbers_and_interactions(project):
    d, _ = project
    ex = json.loads((d / "reports/explain/explain.json").read_text())
    p = P.explain_panel(d)
    assert "30 of 300 test rows explained" in texts(p)
    for c in ("mlops-importance-plot", "mlops-beeswarm-plot", "mlops-waterfall-plot", "mlops-dependence-plot", "mlops-importance-compare-plot"):
        assert one(p, c).value[:4] == b"\x89PNG", c
    pred = one(p, "mlops-prediction")
    assert f"Row 500: model output <b>{ex['local']['output'][0]:.3f}</b>" in pred.value
    rows = one(p, "mlops-row-select"); img = one(p, "mlops-waterfall-plot").value
    rows.value = 507
    assert f"Row 507: model output <b>{ex['local']['output'][7]:.3f}</b>" in pred.value and one(p, "mlops-waterfall-plot").value != img
    one(p, "mlops-row-filter-column").value = "SEX"
    one(p, "mlops-row-filter-value").value = "2"
    assert list(rows.options) == [r for r, s in zip(ex["local"]["index"], ex["local"]["data"]["SEX"]) if s == "2"]
    dep = one(p, "mlops-dependence-feature")
    assert dep.options[0] == "AGE" and set(dep.options) == set(ex["features"])
    before = one(p, "mlops-dependence-plot").value; dep.value = "HOURS"
    assert one(p, "mlops-dependence-plot").value != before


def test_fairness_panel_numbers_and_feature_switch(project):
    d, _ = project
    f = json.loads((d / "reports/fairness/fairness.json").read_text())
    p = P.fairness_panel(d)
    t = texts(p)
    assert "Fairness gates: " in t and "(1 of 1 pass)" in t
    groups = one(p, "mlops-fairness-groups")
    for g in f["features"]["SEX"]["groups"]: assert f"<td class=\"num\">{g['count']}</td>" in groups.value
    assert "0.52 [0.5, 0.54]" in groups.value
    assert "fairness.equalized_odds_difference[SEX]" in one(p, "mlops-fairness-gates").value
    one(p, "mlops-fairness-feature").value = "RACE"
    assert "no (too small)" in groups.value and "Excluded from gates" in groups.value
    assert "No fairness gate on this feature" in one(p, "mlops-fairness-gates").value
    assert "No mitigation was run" in t


def test_drift_panel_table_sorting_columns_and_history(project):
    d, _ = project
    p = P.drift_panel(d)
    head = one(p, "mlops-drift-headline")
    assert "Monitored batch <b>b3</b>" in head.value and "mlops-status-alert\">Retraining recommended" in head.value  # the latest batch first
    one(p, "mlops-drift-batch").value = 2  # the oldest batch: nothing drifted, green
    assert "<b>b1</b>" in head.value and "mlops-status-ok\">No drift" in head.value
    one(p, "mlops-drift-batch").value = -1  # the pipeline's train → test check
    t = texts(p)
    assert "Pipeline check" in t and "Dataset drift: " in t and "2 of 4 columns drifted" in t and ">YES<" in t
    tbl = one(p, "mlops-drift-columns")
    order = lambda: re.findall(r"<tr><td>(\w+)</td>", tbl.value)
    assert order() == ["SCHL", "HOURS", "WAGE", "AGE"]  # how far past the threshold: p-value 0.001 < 0.05 first
    one(p, "mlops-drift-sort").value = "column name"
    assert order() == ["AGE", "HOURS", "SCHL", "WAGE"]
    assert "&lt; 0.05" in tbl.value and "p-value" in tbl.value
    sel = one(p, "mlops-drift-column"); img = one(p, "mlops-drift-hist").value
    assert sel.value == "SCHL"; sel.value = "AGE"
    assert one(p, "mlops-drift-hist").value != img and one(p, "mlops-drift-hist").value[:4] == b"\x89PNG"
    assert "mlops-prediction-drift-table" in t and "1 value above the reference range" in t
    hist = one(p, "mlops-drift-history").value
    assert hist.count("<tr>") == 1 + 3 and hist.index(">b3<") < hist.index(">b1<")  # newest first


def test_missing_and_incompatible_files_are_messages_not_tracebacks(tmp_path):
    d = tmp_path / "p"; d.mkdir()
    (d / "settings.ini").write_text(f"[mlflow]\ntracking_uri = sqlite:///{d}/mlflow.db\nmodel_name = demo\n")
    assert "reports/drift/drift.json not found" in texts(P.drift_panel(d))
    assert "reports/fairness/fairness.json not found" in texts(P.fairness_panel(d))
    assert "reports/explain/explain.json not found" in texts(P.explain_panel(d))
    (d / "reports/drift").mkdir(parents=True)
    (d / "reports/drift/drift.json").write_text(json.dumps({**DRIFT, "schema": "mlops_nb.drift/0"}))
    t = texts(P.drift_panel(d))
    assert "has schema 'mlops_nb.drift/0'" in t and "mlops-error" in t


def test_index_links(project):
    d, _ = project
    t = texts(P.index_panel(d))
    for k in ("registry", "explain", "fairness", "drift"): assert f'href="{k}.ipynb"' in t
    assert 'href="registry.ipynb?model=demo&amp;version=2"' in t


def test_fairness_and_explain_pages_of_a_version_show_its_kept_results(project):
    d, _ = project
    t = texts(P.fairness_panel(d, version="1"))
    assert "version 1 · results from version 1's results" in t and "(1 of 1 pass)" in t and 'class="mlops-error"' not in t
    assert "version 1 · results from version 1's results" in texts(P.explain_panel(d, version="1"))
    assert "version 9 is not a registered version of 'demo'" in texts(P.fairness_panel(d, version="9"))

def test_a_page_reads_each_versions_results_once(project, monkeypatch):
    "A page build downloads each version's results once (all kinds in one download), also when the challenger changes."
    d, _ = project
    calls, real = [], mlflow.MlflowClient.download_artifacts
    def counting(self, run_id, path, dst_path=None):
        calls.append(path); return real(self, run_id, path, dst_path)
    monkeypatch.setattr(mlflow.MlflowClient, "download_artifacts", counting)
    p = P.registry_panel(d, user="alice")
    assert sorted(calls) == ["versions/1", "versions/2"], calls
    pick = one(p, "mlops-challenger-select"); pick.value = "1"; pick.value = "2"
    assert sorted(calls) == ["versions/1", "versions/2"], calls
    calls.clear()
    assert one(P.explain_panel(d), "mlops-importance-compare-plot").value[:4] == b"\x89PNG"  # the champion's importance
    assert calls == ["versions/1"], calls
    calls.clear()
    static_report.write_static_report(d, d / "static-once")
    assert sorted(calls) == ["versions/1", "versions/2"], calls  # the registry page; explain reads the champion in its own build


def test_static_report(project, tmp_path):
    d, _ = project
    out = tmp_path / "static"
    idx = static_report.write_static_report(d, out)
    assert sorted(p.name for p in out.iterdir()) == ["drift.html", "explain.html", "fairness.html", "index.html", "registry.html"]
    assert all(f'href="{k}.html"' in idx.read_text() for k in ("registry", "explain", "fairness", "drift"))
    reg = (out / "registry.html").read_text()
    assert "mlops-registry-table" in reg and "compared with version <b>2</b>" in reg and "0.91" in reg
    for k in ("explain", "fairness", "drift"):
        h = (out / f"{k}.html").read_text()
        assert "data:image/png;base64," in h and "<script" not in h and 'class="mlops-error"' not in h, k
    assert "2 of 4 columns drifted" in (out / "drift.html").read_text()


def test_cli_report_and_dashboards_errors(tmp_path, project, capsys):
    from mlops_nb.cli import main
    d, _ = project
    assert main(["report", "--html", "--out", str(tmp_path / "o"), "--root", str(d)]) == 0
    assert (tmp_path / "o/index.html").exists() and "wrote" in capsys.readouterr().out
    assert main(["dashboards", "--root", str(tmp_path / "nowhere")]) != 0
    assert "is not an mlops_nb project" in capsys.readouterr().err
    cmd = dashboards.voila_command("/x", 9999, "127.0.0.1", 2, "X-Forwarded-User")
    for flag in ("--preheat_kernel=True", "--pool_size=2", "--Voila.ip=127.0.0.1", "--MappingKernelManager.cull_idle_timeout=60",
                 "--MappingKernelManager.cull_interval=30", "--strip_sources=True"):
        assert flag in cmd
    assert any("http_header_envs" in c and "X-Forwarded-User" in c for c in cmd)


# ---------------------------------------------------------------- the repository's demo results (skipped if absent)

@pytest.mark.slow
def test_panels_on_the_repository_demo_results(repo_demo):
    d = repo_demo
    S = load_settings(d / "settings.ini")
    gates = json.loads((d / "reports/gates.json").read_text())
    rows = R.list_versions(S)
    p = P.registry_panel(d, user="viewer-nobody")
    t = texts(p)
    assert one(p, "mlops-registry-versions").value.count("<tr>") == 1 + len(rows)
    champ = next((r["version"] for r in rows if "champion" in r["aliases"]), None)
    if champ: assert f"Champion: <b>v{champ}</b>" in t
    for b in ("mlops-promote-btn", "mlops-rollback-btn", "mlops-retire-btn"): assert one(p, b).disabled
    ex = json.loads((d / "reports/explain/explain.json").read_text())
    e = texts(P.explain_panel(d))
    assert f"{ex['n_sample']} of {ex['n_rows']} test rows" in e
    f = json.loads((d / "reports/fairness/fairness.json").read_text())
    fp = P.fairness_panel(d)
    feat = next(iter(f["features"]))
    assert one(fp, "mlops-fairness-feature").value == feat
    for g in f["features"][feat]["groups"]: assert f"<td class=\"num\">{g['count']}</td>" in one(fp, "mlops-fairness-groups").value
    fair_gates = [g for g in gates["gates"] if g["family"] == "fairness"]
    assert f"({sum(g['passed'] for g in fair_gates)} of {len(fair_gates)} pass)" in texts(fp)
    idx = static_report.write_static_report(d, d / "static")
    assert idx.exists() and "mlops-registry-table" in (d / "static/registry.html").read_text()


# ---------------------------------------------------------------- the dashboard notebooks, executed (inline render)

def test_dashboard_notebooks_execute_with_papermill(project, tmp_path):
    papermill = pytest.importorskip("papermill")
    d, _ = project
    nbdir = dashboards.dashboards_dir()
    env_before = os.environ.get("MLOPS_NB_ROOT")
    os.environ["MLOPS_NB_ROOT"] = str(d); os.environ["MLOPS_NB_USER"] = "alice"
    try:
        from concurrent.futures import ThreadPoolExecutor
        def run(k):
            papermill.execute_notebook(str(nbdir / f"{k}.ipynb"), str(tmp_path / f"{k}.ipynb"), kernel_name="python3",
                                       cwd=str(tmp_path), progress_bar=False)
        kinds = ("index", "registry", "explain", "fairness", "drift")
        with ThreadPoolExecutor(3) as ex: list(ex.map(run, kinds))
        for k in kinds:
            nb = json.loads((tmp_path / f"{k}.ipynb").read_text())
            outs = [o for c in nb["cells"] for o in c.get("outputs", [])]
            assert not any(o.get("output_type") == "error" for o in outs), k
            assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs), k
    finally:
        os.environ.pop("MLOPS_NB_USER", None)
        if env_before is None: os.environ.pop("MLOPS_NB_ROOT", None)
        else: os.environ["MLOPS_NB_ROOT"] = env_before


def test_champion_moved_in_mlflow_is_flagged_everywhere(tmp_path):
    "The MLflow UI or API moving @champion (no role check, no audit) is named by audit verify, models list, status and the dashboard."
    import mlflow, subprocess, sys
    d = tmp_path / "proj"
    S = make_project(d)  # v1 promoted by alice (audited), v2 @challenger
    assert R.moved_aliases(S) == []
    mlflow.MlflowClient(S.tracking_uri).set_registered_model_alias("demo", "champion", "2")  # outside mlops_nb
    found = R.moved_aliases(S)
    assert len(found) == 1 and "@champion of 'demo' is version 2 in MLflow" in found[0] and "promote by alice" in found[0]
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    cli = lambda *a: subprocess.run(["mlops-nb", *a, "--root", str(d)], capture_output=True, text=True, env=env)
    verify = cli("audit", "verify")
    assert verify.returncode != 0 and "ALIAS MOVED: @champion of 'demo' is version 2" in verify.stdout
    listed = cli("models", "list")
    assert listed.returncode == 0 and "WARNING: @champion of 'demo' is version 2 in MLflow" in listed.stdout
    from mlops_nb.project import status_report
    assert "WARNING: @champion of 'demo' is version 2 in MLflow" in status_report(d)
    assert dashboard_data.registry_state(d, user="alice").moved_aliases == found
    assert "moved outside mlops_nb" in texts(P.registry_panel(d, user="alice"))
