"""Multiclass classification end to end (issue 14, point 3): a 3-class target through init, dvc repro, the registry,
the pages and monitoring, plus fast in-process checks of its metrics, fairness, SHAP, gates and drift."""
import json, warnings

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, run

CLASSES = ["college", "high school", "no diploma"]  # as init writes them: sorted
CODES = ["MAR", "DIS", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR", "DEYE", "DREM", "RAC1P"]  # coded categories, <= 12 values


def education_bands(n=6000, seed=0) -> pd.DataFrame:
    """Real ACS PUMS rows (Massachusetts 2015-2018, data/raw/README.md) shaped like an export: a person id, an
    interview date, coded categories, and a 3-class target, the educational attainment band (from SCHL)."""
    df = pd.read_parquet(REPO / "data/raw/acs_employment_ma.parquet")
    schl = pd.to_numeric(df["SCHL"].astype(str))
    df = df[schl > 0].sample(n, random_state=seed).reset_index(drop=True)
    schl = pd.to_numeric(df["SCHL"].astype(str))
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({
        "person_id": [f"P{i:07d}" for i in df["id"]],
        "surveyed_on": [f"{y}-{m:02d}-{d:02d}" for y, m, d in zip(df["year"], rng.integers(1, 13, n), rng.integers(1, 29, n))],
        "age": df["AGEP"], "employed": np.where(df["employed"] == 1, "yes", "no")})
    for c in ("MAR", "RELP", "DIS", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR", "DEYE", "DREM", "SEX", "RAC1P"):
        out[c] = df[c].astype(str)
    out["education"] = np.select([schl <= 15, schl <= 19], ["no diploma", "high school"], "college")
    return out


def _quiet_shap():
    warnings.filterwarnings("ignore", message=".*matplotlib.*")  # `import shap` warns about matplotlib


# ---------------------------------------------------------------- fast, in process

@pytest.fixture(scope="module")
def fitted():
    "A HistGradientBoosting pipeline fitted on the education bands (class positions 0..2), and its test rows."
    from mlops_nb.data import encode_classes
    from mlops_nb.model import build_pipeline, make_estimator
    df = education_bands(3000, seed=1)
    num, cat = ["age"], ["employed", "MAR", "RELP", "DIS", "CIT", "NATIVITY", "SEX", "RAC1P"]
    y = encode_classes(df["education"], CLASSES)
    pipe = build_pipeline(num, cat, make_estimator("hist_gradient_boosting", {"max_iter": 40}, "multiclass")).fit(df[num + cat][:2000], y[:2000])
    return pipe, df[num + cat][2000:].reset_index(drop=True), y[2000:].reset_index(drop=True), df[2000:].reset_index(drop=True)


def test_metrics_equal_scikit_learn(fitted):
    from sklearn import metrics as skm
    from mlops_nb.metrics import confusion_table, evaluate_predictions
    pipe, X, y, _ = fitted
    proba = pipe.predict_proba(X)
    ev = evaluate_predictions(y, proba, "multiclass", classes=CLASSES)
    pred = proba.argmax(1)
    expect = {"accuracy": skm.accuracy_score(y, pred), "f1_macro": skm.f1_score(y, pred, average="macro"),
              "f1_weighted": skm.f1_score(y, pred, average="weighted"), "log_loss": skm.log_loss(y, proba),
              "roc_auc_ovr": skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"),
              "precision_macro": skm.precision_score(y, pred, average="macro"), "recall_macro": skm.recall_score(y, pred, average="macro")}
    for k, v in expect.items(): assert ev.metrics[k] == pytest.approx(v, abs=1e-12), k
    for i, c in enumerate(CLASSES):
        assert ev.per_class[c]["precision"] == pytest.approx(skm.precision_score(y == i, pred == i), abs=1e-12)
        assert ev.per_class[c]["recall"] == pytest.approx(skm.recall_score(y == i, pred == i), abs=1e-12)
        assert ev.per_class[c]["support"] == int((y == i).sum())
    t = confusion_table(ev)
    assert set(t["actual"]) == set(CLASSES) and t["count"].sum() == len(y)
    assert ev.metrics["roc_auc_ovr"] > 0.75  # education from age, marital status, ...: well above chance


def test_fairness_equals_fairlearn_one_vs_rest(fitted):
    from fairlearn.metrics import MetricFrame, equalized_odds_difference, selection_rate, true_positive_rate, false_positive_rate
    from mlops_nb.fairness import class_feature, multiclass_fairness
    pipe, X, y, df = fitted
    pred = pipe.predict_proba(X).argmax(1)
    sens = df[["SEX", "RAC1P"]]
    rep = multiclass_fairness(y.to_numpy(), pred, CLASSES, sens, min_group_size=1, n_boot=20)
    for i, c in enumerate(CLASSES):
        for f in sens:
            ff = rep.features[class_feature(f, c)]
            mf = MetricFrame(metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
                             y_true=(y == i).to_numpy(), y_pred=pred == i, sensitive_features=sens[f])
            for g in ff.groups:
                for m in ("selection_rate", "tpr", "fpr"):
                    assert g[m] == pytest.approx(mf.by_group.loc[g["group"], m], abs=1e-9), (c, f, g["group"], m)
            eod = equalized_odds_difference((y == i).to_numpy(), pred == i, sensitive_features=sens[f])
            assert ff.summary["equalized_odds_difference"]["value"] == pytest.approx(eod, abs=1e-9)
    assert rep.overall["selection_rate[college]"] == pytest.approx(float(np.mean(pred == 0)), abs=1e-12)


@pytest.mark.parametrize("estimator", ["hist_gradient_boosting", "lightgbm.LGBMClassifier", "logistic_regression",
                                       "sklearn.neighbors.KNeighborsClassifier"])
def test_shap_adds_up_per_class(fitted, estimator):
    "TreeExplainer (sklearn, LightGBM), LinearExplainer and the model-agnostic path: every class's SHAP values add up."
    _quiet_shap()
    from mlops_nb.explain import explain_pipeline
    from mlops_nb.model import build_pipeline, make_estimator
    _, X, y, _ = fitted
    hyper = {"hist_gradient_boosting": {"max_iter": 30}, "lightgbm.LGBMClassifier": {"n_estimators": 30, "verbose": -1},
             "logistic_regression": {}, "sklearn.neighbors.KNeighborsClassifier": {"n_neighbors": 15}}[estimator]
    pipe = build_pipeline(["age"], list(X.columns[1:]), make_estimator(estimator, hyper, "multiclass")).fit(X, y)
    agnostic = "KNeighbors" in estimator
    ex = explain_pipeline(pipe, X, y, sample_size=15 if agnostic else 150, background_size=10, classes=CLASSES)
    assert ex.classes == CLASSES and ex.shown_class == "no diploma"
    assert ex.explainer == ("KernelExplainer" if agnostic else "LinearExplainer" if "logistic" in estimator else "TreeExplainer")
    for c in CLASSES: assert ex.class_additivity_error[c] <= 1e-3, c
    out = (pipe.predict_proba if ex.output == "probability" else pipe.decision_function if hasattr(pipe, "decision_function")
           else None)(X.iloc[ex.positions])
    if estimator == "lightgbm.LGBMClassifier": out = pipe[-1].predict(pipe[:-1].transform(X.iloc[ex.positions]), raw_score=True)
    assert np.allclose(ex.values.sum(1) + ex.expected_value, out[:, -1], atol=1e-3)  # the shown class, independently
    for f in ex.features:  # global importance: each class's mean |SHAP| averaged over the classes
        assert ex.importance[f] == pytest.approx(np.mean([ex.class_importance[c][f] for c in CLASSES]), abs=1e-9)
    if ex.explainer == "TreeExplainer": assert list(ex.importance)[0] == "age"  # non-linear in age: trees see it


def test_gates_on_the_worst_class_and_a_multiclass_floor(fitted):
    from mlops_nb.config import FairnessGates, PerformanceGates, RegressionTolerance
    from mlops_nb.fairness import multiclass_fairness
    from mlops_nb.gates import fairness_gates, performance_gates
    from mlops_nb.metrics import evaluate_predictions
    pipe, X, y, df = fitted
    proba = pipe.predict_proba(X)
    m = evaluate_predictions(y, proba, "multiclass", classes=CLASSES).metrics
    g, notes = performance_gates(m, {**m, "f1_macro": m["f1_macro"] + 0.05},
                                 PerformanceGates(floors={"f1_macro": 0.3, "roc_auc_ovr": 0.99},
                                                  regression={"f1_macro": RegressionTolerance(absolute=0.01, relative=0.02)}))
    assert [(x.name, x.passed) for x in g] == [("performance.floor[f1_macro]", True), ("performance.floor[roc_auc_ovr]", False),
                                               ("performance.vs_champion[f1_macro]", False)]
    rep = {**multiclass_fairness(y.to_numpy(), proba.argmax(1), CLASSES, df[["SEX"]], n_boot=0).to_dict(),
           "task": "multiclass", "classes": CLASSES}
    g, notes = fairness_gates(rep, FairnessGates(equalized_odds_difference=0.1, demographic_parity_difference=0.1,
                                                 selection_rate_ratio=0.8))
    for x in g:
        per = x.evidence["per_class"]
        worst = max(per.values()) if x.comparison == "<=" else min(per.values())
        assert x.value == pytest.approx(worst) and per[x.evidence["worst_class"]] == x.value
    assert any("worst class" in n for n in notes)


def test_drift_of_the_predicted_class_and_probabilities():
    from mlops_nb.config import MonitorParams
    from mlops_nb.drift import compare
    from mlops_nb.drift_reference import build_reference
    from mlops_nb.monitor import assess
    rng = np.random.default_rng(0)
    def window(n, p):
        proba = rng.dirichlet(np.array(p) * 10, n)
        return pd.DataFrame({"x": rng.normal(size=n), "predicted": np.array(CLASSES)[proba.argmax(1)],
                             **{f"p({c})": proba[:, i] for i, c in enumerate(CLASSES)}})
    ref = build_reference(window(3000, [.5, .3, .2]), ["x"], [], prediction="predicted", prediction_kind="categorical",
                          probabilities=[f"p({c})" for c in CLASSES])
    same, shifted = compare(ref, window(2000, [.5, .3, .2])), compare(ref, window(2000, [.2, .3, .5]))
    assert same.prediction.kind == "categorical" and not same.prediction.drifted
    assert shifted.prediction.drifted and {p.column for p in shifted.probabilities if p.drifted} >= {"p(college)", "p(no diploma)"}
    assert shifted.n_columns == 1  # the model's outputs are not features: they do not count in the dataset drift share
    retrain, reasons = assess(shifted.to_dict(), MonitorParams())
    assert retrain and any("predicted classes" in r for r in reasons) and any("p(no diploma)" in r for r in reasons)
    from mlops_nb.drift import DriftReport
    assert DriftReport.from_dict(shifted.to_dict()).to_dict() == shifted.to_dict()


# ---------------------------------------------------------------- bad inputs

@pytest.fixture
def small_project(tmp_path):
    "An init'ed project (no git/DVC) on 600 rows of the education bands."
    from mlops_nb.scaffold import init_project
    education_bands(600).to_csv(tmp_path / "people.csv", index=False)
    init_project(tmp_path / "p", tmp_path / "people.csv", "education", ["SEX"], "surveyed_on", ids=["person_id"], git=False)
    return tmp_path / "p"


def _edit(root, **data):
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["data"].update(data)
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))


def test_prepare_needs_the_classes_listed(small_project):
    from mlops_nb import stages
    from mlops_nb.core import MlopsError
    _edit(small_project, classes=[])
    with pytest.raises(MlopsError, match=r"data.classes is empty.*data.classes: \[college, high school, no diploma\]"):
        stages.prepare(small_project)
    _edit(small_project, classes=["college", "high school", "none"])
    with pytest.raises(MlopsError, match=r"labels that data.classes .* does not list: \['no diploma'\]"):
        stages.prepare(small_project)
    assert not (small_project / "data/prepared/train.parquet").exists()


def test_mitigation_is_refused_for_multiclass(small_project):
    from mlops_nb.config import load_params
    from mlops_nb.core import MlopsError
    from mlops_nb import stages
    stages.prepare(small_project)
    p = yaml.safe_load((small_project / "params.yaml").read_text())
    p["train"]["mitigation"] = {"feature": "SEX"}
    (small_project / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    with pytest.raises(MlopsError, match="ThresholdOptimizer needs a binary classifier; this is a multiclass model"):
        stages.train(small_project, load_params(small_project / "params.yaml"))


# ---------------------------------------------------------------- end to end: dvc repro

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """init on 6000 real rows, then `dvc repro` twice: first with init's gates (a fairness gate fails on its worst
    class), then with that threshold relaxed as a reviewer would; everything after the gate runs."""
    d = tmp_path_factory.mktemp("multiclass")
    education_bands().to_csv(d / "people.csv", index=False)
    root = d / "edu"
    init = run(["mlops-nb", "init", str(root), "--data", str(d / "people.csv"), "--target", "education", "--sensitive", "SEX",
                "--time-column", "surveyed_on", "--id", "person_id",
                "--categorical", *CODES], d).stdout  # census codes (the CSV reads them as integers)
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["explain"]["sample_size"] = 200
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    first = run(["dvc", "repro"], root, check=False)
    first_gates = json.loads((root / "reports/gates.json").read_text())
    p["gates"]["fairness"]["selection_rate_ratio"] = 0.7
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    run(["dvc", "repro"], root)
    return {"root": root, "init": init, "params": p, "first": first, "first_gates": first_gates}


@pytest.mark.slow
def test_init_and_evaluate(built):
    root = built["root"]
    assert "multiclass on target 'education'" in built["init"]
    p = built["params"]
    assert (p["data"]["task"], p["data"]["classes"]) == ("multiclass", CLASSES)
    assert p["gates"]["performance"]["floors"] == {"roc_auc_ovr": 0.7}
    metrics = json.loads((root / "reports/metrics.json").read_text())
    assert {"accuracy", "f1_macro", "f1_weighted", "log_loss", "roc_auc_ovr"} <= set(metrics) and metrics["roc_auc_ovr"] > 0.75
    assert set(metrics["per_class"]) == set(CLASSES) and sum(m["support"] for m in metrics["per_class"].values()) == metrics["n_test"]
    conf = pd.read_csv(root / "reports/plots/confusion.csv")
    assert set(conf["actual"]) == set(CLASSES) and conf["count"].sum() == metrics["n_test"]
    assert not (root / "reports/plots/roc.csv").exists()
    shown = run(["dvc", "plots", "show", "--json"], root).stdout
    assert "confusion.csv" in shown and '"actual": "high school"' in shown  # class names on the axes
    prof = json.loads((root / "reports/data/profile.json").read_text())["target"]
    assert set(prof["counts"]) == set(CLASSES) and prof["base_rate"] is None  # classes by name; no mean of positions
    preds = pd.read_parquet(root / "data/predictions/test.parquet")
    assert list(preds.columns) == ["score", "prediction", "proba_0", "proba_1", "proba_2"]
    assert np.allclose(preds[["proba_0", "proba_1", "proba_2"]].sum(axis=1), 1)


@pytest.mark.slow
def test_fairness_explain_and_gates(built):
    root, first = built["root"], built["first"]
    failed = [g for g in built["first_gates"]["gates"] if not g["passed"]]
    assert first.returncode != 0 and failed, "init's fairness gates were expected to catch the worst class"
    for g in failed:
        assert g["name"] in first.stdout + first.stderr and g["evidence"]["worst_class"] in CLASSES
        assert g["value"] == g["evidence"]["per_class"][g["evidence"]["worst_class"]]
    fair = json.loads((root / "reports/fairness/fairness.json").read_text())
    assert fair["task"] == "multiclass" and fair["classes"] == CLASSES
    assert set(fair["features"]) == {f"SEX · class {c}" for c in CLASSES}
    gates = json.loads((root / "reports/gates.json").read_text())
    assert gates["verdict"] == "pass" and any("worst class" in n for n in gates["notes"])
    eo = next(g for g in gates["gates"] if g["name"] == "fairness.equalized_odds_difference[SEX]")
    assert eo["value"] == max(f["summary"]["equalized_odds_difference"]["value"] for f in fair["features"].values())
    expl = json.loads((root / "reports/explain/explain.json").read_text())
    assert expl["classes"] == CLASSES and expl["explainer"] == "TreeExplainer"
    assert all(e <= expl["additivity"]["tolerance"] for e in expl["class_additivity_error"].values())
    assert list(expl["importance"])[0] == "age"
    assert json.loads((root / "reports/registry.json").read_text())["validation_status"] == "passed"


@pytest.mark.slow
def test_drift_pages_card_and_monitor(built, tmp_path):
    "Changes the project (promotes, monitors): the last test of the module."
    import getpass, re
    from mlops_nb import panels as P
    root = built["root"]
    drift = json.loads((root / "reports/drift/drift.json").read_text())
    assert drift["prediction"]["kind"] == "categorical" and drift["target"]["kind"] == "categorical"
    assert [p["column"] for p in drift["probabilities"]] == [f"p({c})" for c in CLASSES]
    assert set(drift["target"]["histogram"]["categories"]) == set(CLASSES)  # labels by name, not positions
    (root / "roles.yaml").write_text(f"users: {{{getpass.getuser()}: admin}}\n")
    run(["mlops-nb", "models", "promote", "1", "-m", "first multiclass model"], root)
    def texts(w):
        return "\n".join([w.value if isinstance(getattr(w, "value", None), str) else ""] + [texts(c) for c in getattr(w, "children", ())])
    for build in (P.registry_panel, P.explain_panel, P.fairness_panel, P.drift_panel):
        t = re.sub(r"<style.*?</style>", "", texts(build(root)), flags=re.S)
        assert "mlops-error" not in t and "Traceback" not in t, build.__name__
        if build is P.fairness_panel: assert "SEX · class college" in t and "fairness.equalized_odds_difference[SEX]" in t
        if build is P.explain_panel:  # the averaged importance, then what drives each class
            assert "of class no diploma" in t and "Importance per class" in t and all(f"<th>class {c}</th>" in t for c in CLASSES)
        if build is P.registry_panel: assert "f1_macro" in t and "roc_auc_ovr" in t
        if build is P.drift_panel: assert "p(high school)" in t  # prediction drift: the predicted class and each probability
    run(["mlops-nb", "run-stage", "gate"], root)  # the same model again, now against the champion it became
    vs = {g["name"]: g for g in json.loads((root / "reports/gates.json").read_text())["gates"] if "vs_champion" in g["name"]}
    assert set(vs) == {"performance.vs_champion[roc_auc_ovr]", "performance.vs_champion[f1_macro]"}
    assert all(g["passed"] and g["value"] == pytest.approx(0, abs=1e-12) for g in vs.values())
    run(["mlops-nb", "models", "card", "1"], root)
    card = (root / "reports/cards/edu-v1/model_card.md").read_text()
    assert "Metrics per class" in card and "high school" in card and "SEX · class no diploma" in card
    education_bands(800, seed=5).to_csv(tmp_path / "batch.csv", index=False)  # a later export, labels included
    out = run(["mlops-nb", "monitor", str(tmp_path / "batch.csv")], root, check=False)
    assert out.returncode in (0, 1), out.stderr
    assert "f1_macro" in out.stdout and "labels: column 'education' of the batch" in out.stdout
    hist = json.loads((root / "monitoring/history.jsonl").read_text().splitlines()[-1])
    assert {"f1_macro", "roc_auc_ovr", "accuracy"} <= set(hist["performance"]) and hist["performance"]["n_labelled"] == 800
