"""Validation gates end to end: only a model that passes every gate becomes `challenger`."""
import json, re, shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import GIT_ID, copy_built, make_project, run, synthetic

pytestmark = pytest.mark.slow


def alias_version(root, alias):
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlops_nb.config import load_settings
    s = load_settings(root / "settings.ini")
    client = mlflow.MlflowClient(s.tracking_uri, s.registry_uri)  # explicit: several projects in one process
    try: return str(client.get_model_version_by_alias(s.mlflow.model_name, alias).version)
    except MlflowException: return None


def test_fair_model_passes_and_becomes_challenger(fair_built):
    fair_project = fair_built
    rep = json.loads((fair_project / "reports/gates.json").read_text())
    assert rep["verdict"] == "pass", rep
    assert {g["name"] for g in rep["gates"]} >= {"performance.floor[roc_auc]", "fairness.demographic_parity_difference[group]",
                                                 "fairness.equalized_odds_difference[group]", "fairness.selection_rate_ratio[group]"}
    assert alias_version(fair_project, "challenger") == "1"


def test_threshold_change_reruns_only_gate_and_register(fair_built, tmp_path):
    fair_project = copy_built(fair_built, tmp_path)
    p = yaml.safe_load((fair_project / "params.yaml").read_text())
    p["gates"]["performance"]["floors"]["roc_auc"] = 0.75
    (fair_project / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    r = run(["dvc", "repro"], fair_project)
    assert re.findall(r"Running stage '(\w+)'", r.stdout) == ["gate", "register"]


def test_unfair_model_fails_the_fairness_gate_and_gets_no_alias(unfair_built, tmp_path):
    built, r = unfair_built
    root = copy_built(built, tmp_path)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "validation gate(s) failed" in out and "fairness.demographic_parity_difference[group]" in out
    rep = json.loads((root / "reports/gates.json").read_text())  # the full report is written before failing
    assert rep["verdict"] == "fail"
    failed = {g["name"] for g in rep["gates"] if not g["passed"]}
    assert "fairness.demographic_parity_difference[group]" in failed
    assert (root / "reports/html/gate.html").exists() and (root / "reports/notebooks/gate.failed.ipynb").exists()
    assert alias_version(root, "challenger") is None and not (root / "reports/registry.json").exists()

    # gates.fail_pipeline: false -> the pipeline finishes, the version is registered without the alias, tagged failed
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["gates"]["fail_pipeline"] = False
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    run(["dvc", "repro"], root)
    reg = json.loads((root / "reports/registry.json").read_text())
    assert reg["alias"] is None and reg["validation_status"] == "failed"
    assert alias_version(root, "challenger") is None


def test_regression_against_champion_fails_the_performance_gate(fair_built, tmp_path):
    import mlflow
    from mlops_nb import stages
    from mlops_nb.config import load_settings
    root = copy_built(fair_built, tmp_path)
    s = load_settings(root / "settings.ini")
    mlflow.MlflowClient(s.tracking_uri, s.registry_uri).set_registered_model_alias(s.mlflow.model_name, "champion", "1")
    # a much weaker candidate: the strongest feature left out
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["data"]["numeric"] = ["x2"]
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    for stage in ("train", "evaluate", "explain", "fairness"):
        getattr(stages, stage)(root)
    report, fail = stages.gate(root)
    assert report.champion["version"] == "1" and report.verdict == "fail" and fail
    g = {x.name: x for x in report.gates}
    reg = g["performance.vs_champion[roc_auc]"]
    assert not reg.passed and reg.evidence["champion"] > reg.evidence["candidate"] + 0.05
    assert "explainability.top_5_overlap" in g  # importance compared with the champion's on the same rows


def test_gate_refuses_a_tampered_champion(fair_built, tmp_path, monkeypatch):
    "The gate stage loads the champion through the registry's hash-checked loader: a changed model file stops it."
    import mlflow
    from mlops_nb import stages
    from mlops_nb.config import load_settings
    from mlops_nb.integrity import IntegrityError
    root = copy_built(fair_built, tmp_path)
    monkeypatch.chdir(root)
    s = load_settings(root / "settings.ini")
    client = mlflow.MlflowClient(s.tracking_uri, s.registry_uri)
    client.set_registered_model_alias(s.mlflow.model_name, "champion", "1")
    model_id = client.get_model_version(s.mlflow.model_name, "1").source.rsplit("/", 1)[-1]
    stored = [p for p in (root / "mlartifacts").rglob("model.*") if model_id in p.parts and p.suffix in (".pkl", ".skops")]
    assert len(stored) == 1  # skops for a scikit-learn model, cloudpickle otherwise
    stored[0].write_bytes(stored[0].read_bytes() + b"\0")  # still loads; the recorded SHA-256 differs
    with pytest.raises(IntegrityError, match="refusing to use it"):
        stages.gate(root)


def test_every_fact_of_version_1_is_version_1s(fair_built, tmp_path, monkeypatch):
    """v1 built, then params changed and v2 registered into the same workspace: v1's card and dashboard results show
    exactly v1's recorded numbers (the bug: v1's card showed the workspace's, i.e. v2's, fairness numbers)."""
    import yaml as _yaml
    from mlops_nb import stages, dashboard_data as D
    from mlops_nb.config import load_settings
    from mlops_nb.card import card_facts
    from mlops_nb.results import version_result
    root = copy_built(fair_built, tmp_path)
    monkeypatch.chdir(root)
    v1_fair, v1_gates = (json.loads((root / p).read_text()) for p in ("reports/fairness/fairness.json", "reports/gates.json"))
    s = load_settings(root / "settings.ini")
    # fair_built registered v1 with this code: its results were kept with the version
    assert version_result(s, json.loads((root / "reports/registry.json").read_text())["run_id"], "1", "fairness") == v1_fair
    p = _yaml.safe_load((root / "params.yaml").read_text())
    p["evaluate"]["threshold"] = 0.3  # other decisions: other fairness numbers and gate values, the same trained model
    (root / "params.yaml").write_text(_yaml.safe_dump(p, sort_keys=False))
    for stage in ("evaluate", "fairness"): getattr(stages, stage)(root)
    stages.gate(root); assert stages.register(root)["version"] == "2"
    v2_fair = json.loads((root / "reports/fairness/fairness.json").read_text())
    assert v2_fair["features"] != v1_fair["features"]
    card = card_facts(s, "1")
    assert card["fairness"] == v1_fair and card["gates"] == v1_gates
    assert card_facts(s, "2")["fairness"] == v2_fair
    state = D.registry_state(root)
    assert D.version_results(root, state, "1")["fairness"] == v1_fair and D.version_results(root, state, "2")["fairness"] == v2_fair


def test_a_model_that_selects_nobody_in_a_group_is_explained(fair_built, tmp_path, monkeypatch):
    "Rare positives / a high threshold: a selection rate of 0 in a group is explained in fairness.json and the gate notes."
    import pandas as _pd
    from mlops_nb import stages
    root = copy_built(fair_built, tmp_path)
    monkeypatch.chdir(root)
    test, pred_path = _pd.read_parquet(root / "data/prepared/test.parquet"), root / "data/predictions/test.parquet"
    preds = _pd.read_parquet(pred_path)
    preds.loc[(test["group"] == "b").to_numpy(), "prediction"] = 0  # decisions of a model that selects nobody in group b
    preds.to_parquet(pred_path)
    stages.fairness(root)
    fair = json.loads((root / "reports/fairness/fairness.json").read_text())
    assert [g["group"] for g in fair["features"]["group"]["groups"] if g["selection_rate"] == 0] == ["b"]
    assert "selects nobody in group group(s) b" in fair["notes"]["zero_selection"]
    report, _ = stages.gate(root)
    assert any("selects nobody in group group(s) b" in n for n in report.notes)
