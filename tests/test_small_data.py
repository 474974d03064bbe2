"""Small and imbalanced data (issue 14, point 5): floors and warnings, bootstrap intervals, PR AUC, evaluate.threshold auto;
numbers read from '1,234' text noted in the profile (point 6)."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import average_precision_score, f1_score

from conftest import run


def rare_export(n=600, positive_share=0.05, seed=0) -> pd.DataFrame:
    """Shaped like a real export: an id, an application date, a few categoricals, an amount written with thousands
    separators, and a rare outcome: exactly `positive_share` of each month's rows, the highest latent scores."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    channel = rng.choice(["web", "branch", "phone"], n)
    sex = rng.choice(["F", "M"], n)
    amount = rng.gamma(3, 4000, n).round()
    dates = pd.Series(pd.date_range("2024-01-01", periods=n, freq="12h"))
    latent = 0.0004 * amount / 4 + np.where(channel == "web", 1.0, 0.0) + np.where(region == "east", 0.8, 0) + rng.normal(0, 1, n)
    month = dates.dt.to_period("M")
    rank = pd.Series(latent).groupby(month.to_numpy()).rank(ascending=False, pct=True)
    y = np.where(rank <= positive_share, "fraud", "ok")
    return pd.DataFrame({"application_id": [f"A{i:05d}" for i in range(n)], "applied_on": dates.dt.strftime("%Y-%m-%d"),
                         "region": region, "channel": channel, "sex": sex,
                         "amount": [f"{int(a):,}" for a in amount], "outcome": y})


def scaffold(tmp_path, df, **evaluate):
    "A project made by init (no git) around `df`, with `evaluate` keys set in params.yaml."
    from mlops_nb.scaffold import init_project
    df.to_csv(tmp_path / "export.csv", index=False)
    root = tmp_path / "p"
    init_project(root, tmp_path / "export.csv", "outcome", sensitive=["sex"], time_column="applied_on",
                 positive="fraud", ids=["application_id"], estimator="logistic_regression", git=False)
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["evaluate"].update(evaluate)
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    return root


def test_prepare_refuses_below_the_floor_with_the_numbers(tmp_path):
    from mlops_nb.core import DataError
    from mlops_nb.stages import TRAIN, prepare
    root = scaffold(tmp_path, rare_export(n=40, positive_share=0.25))
    with pytest.raises(DataError) as e:
        prepare(root)
    msg = str(e.value)
    assert "too little data to evaluate a model" in msg
    assert "only 40 rows (trained on 30, tested on 10); prepare refuses fewer than evaluate.min_rows = 50" in msg
    assert "lower evaluate.min_rows in params.yaml" in msg
    assert not (root / TRAIN).exists()  # nothing half-written


def test_prepare_warns_on_small_rare_data_and_notes_number_formats(tmp_path, capsys):
    from mlops_nb.stages import PROFILE, prepare
    root = scaffold(tmp_path, rare_export())
    small = prepare(root)["small_data"]
    n_test = small["test_rows"]
    assert small["refuse"] == [] and small["rows"] == 600
    assert small["rarest_class"]["label"] == "fraud" and 5 <= small["rarest_class"]["count"] < 50
    assert small["warnings"][0].startswith(f"small data: 600 rows (trained on {600 - n_test}, tested on {n_test})")
    assert small["warnings"][1].startswith(f"rare class: the test split has {small['rarest_class']['count']} row(s) of class 'fraud'")
    assert "WARNING small data: 600 rows" in capsys.readouterr().err  # what the stage prints
    notes = json.loads((root / PROFILE).read_text())["notes"]
    assert notes == ["column 'amount' was read as numbers from text with thousands separators ('1,234.5'): "
                     f"{sum(',' in a for a in rare_export()['amount'])} of its 600 values were written that way"]


def test_auto_threshold_selects_somebody_and_is_the_best_f1_on_validation(tmp_path):
    from sklearn.model_selection import train_test_split
    from mlops_nb.config import load_params
    from mlops_nb.model import build_model, make_estimator
    from mlops_nb.stages import VALIDATION_SHARE, _auto_threshold, prepare, training_data
    root = scaffold(tmp_path, rare_export(n=3000), threshold="auto")
    prepare(root)
    params = load_params(root / "params.yaml")
    X, y = training_data(root)
    pipe = build_model(make_estimator("logistic_regression", {}, "classification", 42), params.data.numeric,
                       params.data.categorical, "auto")
    chosen = _auto_threshold(pipe, X, y, params)
    # the same held-out rows, the same fit: every distinct validation score tried as the threshold
    X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=VALIDATION_SHARE, stratify=y, random_state=params.split.seed)
    s = pipe.fit(X_fit, y_fit).predict_proba(X_val)[:, 1]
    best = max(np.unique(s), key=lambda t: (f1_score(y_val, s >= t), -t))
    assert chosen["value"] == pytest.approx(best, abs=1e-12)
    assert chosen["validation_rows"] == len(y_val) and chosen["validation_positives"] == int(y_val.sum())
    assert (s >= 0.5).sum() < (s >= chosen["value"]).sum()  # 0.5 selects fewer (here: nobody or nearly)
    assert (s >= chosen["value"]).sum() > 0


def test_pr_auc_is_sklearns_average_precision_and_intervals_widen_on_small_data():
    from mlops_nb.metrics import evaluate_predictions, metric_intervals
    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.05).astype(int)
    s = np.clip(0.1 + 0.3 * y + rng.normal(0, 0.15, 2000), 0, 1)
    assert evaluate_predictions(y, s).metrics["pr_auc"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    wide, narrow = metric_intervals(y[:200], s[:200], n_boot=200), metric_intervals(y, s, n_boot=200)
    assert wide["pr_auc"][1] - wide["pr_auc"][0] > narrow["pr_auc"][1] - narrow["pr_auc"][0]


def test_one_threshold_everywhere():
    from mlops_nb.config import parse_params
    from mlops_nb.core import MlopsError
    from mlops_nb.serve import ServedModel, score_frame
    from mlops_nb.stages import THRESHOLD_TAG, decision_threshold, version_threshold
    auto = parse_params({"data": {"path": "d.csv", "target": "y", "numeric": ["x"]}, "evaluate": {"threshold": "auto"}})
    fixed = parse_params({"data": {"path": "d.csv", "target": "y", "numeric": ["x"]}, "evaluate": {"threshold": 0.3}})
    assert decision_threshold(auto, 0.12) == 0.12  # what the evaluate stage chose
    assert decision_threshold(fixed, 0.12) == 0.3
    with pytest.raises(MlopsError, match="records no chosen threshold"): decision_threshold(auto)
    assert version_threshold(fixed, {THRESHOLD_TAG: "0.07"}) == 0.07  # a version keeps the threshold it was evaluated at
    with pytest.raises(MlopsError, match="has no 'mlops_nb.decision_threshold' tag"): version_threshold(auto, {})

    class Model:  # scores 0.1, 0.2, 0.3
        def predict_proba(self, X): return np.c_[1 - X["x"].to_numpy(), X["x"].to_numpy()]
    served = ServedModel(Model(), "m", "1", "r", None, ["x"], "", threshold=0.2)
    got = score_frame(served, pd.DataFrame({"x": [0.1, 0.2, 0.3]}), fixed)
    assert got["prediction"].tolist() == [0, 1, 1]


@pytest.mark.slow
def test_rare_positives_end_to_end_with_threshold_auto(tmp_path):
    "The issue's case through `dvc repro`: 600 rows, 5 % positives, threshold auto: warned, intervals, somebody selected."
    rare_export().to_csv(tmp_path / "export.csv", index=False)
    root = tmp_path / "rare"
    run(["mlops-nb", "init", str(root), "--data", str(tmp_path / "export.csv"), "--target", "outcome", "--positive", "fraud",
         "--sensitive", "sex", "--time-column", "applied_on", "--id", "application_id", "--estimator", "logistic_regression"],
        tmp_path)
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["evaluate"]["threshold"] = "auto"
    p["explain"]["sample_size"] = 100
    p["fairness"].update(n_boot=50, min_group_size=10)
    p["gates"]["fail_pipeline"] = False  # a verdict either way: this test reads the report
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    run(["dvc", "repro"], root)
    gates = json.loads((root / "reports/gates.json").read_text())
    assert any(n.startswith("WARNING small data: 600 rows") for n in gates["notes"])
    assert any(n.startswith("WARNING rare class: the test split has") for n in gates["notes"])
    assert any(n.startswith("decision threshold ") and "chosen by best_f1" in n for n in gates["notes"])
    floor = next(g for g in gates["gates"] if g["name"] == "performance.floor[roc_auc]")
    assert floor["evidence"]["ci"][0] < floor["value"] < floor["evidence"]["ci"][1]
    metrics = json.loads((root / "reports/metrics.json").read_text())
    chosen = json.loads((root / "reports/evaluation.json").read_text())["threshold"]
    assert metrics["threshold"] == chosen["value"] and chosen["rule"] == "best_f1" and "pr_auc" in metrics["ci"]
    preds = pd.read_parquet(root / "data/predictions/test.parquet")  # what fairness reads: decided at the chosen threshold
    assert (preds["prediction"] == (preds["score"] >= metrics["threshold"])).all()
    fair = json.loads((root / "reports/fairness/fairness.json").read_text())
    assert any(g["selection_rate"] > 0 for g in fair["features"]["sex"]["groups"])
    html = (root / "reports/html/gate.html").read_text()
    assert "mlops-flag" in html and "small data: 600 rows" in html  # the visible warning of the gate report
    from mlops_nb.config import load_params, load_settings
    from mlops_nb.serve import load_served, score_frame
    from mlops_nb.tracking import connect
    params, settings = load_params(root / "params.yaml"), load_settings(root / "settings.ini"); connect(settings)
    served = load_served(settings, params, version="1")  # what serving and batch scoring load: the version's own threshold
    assert served.threshold == metrics["threshold"]
    scored = score_frame(served, pd.read_parquet(root / "data/prepared/test.parquet"), params)
    assert (scored["prediction"] == (scored["score"] >= metrics["threshold"])).all()
