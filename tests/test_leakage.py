"""Target leakage (mlops_nb.leakage): columns recorded at or after the outcome, found by init, prepare and the gate stage."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import GIT_ID, REPO, run
from mlops_nb.config import LeakageParams, load_params, parse_params
from mlops_nb.core import ConfigError, DataError
from mlops_nb.leakage import LeakageReport, check_leakage, leak_exclusions, model_check, one_to_one, single_feature_score


def reoffending_export(n=2400, seed=0) -> pd.DataFrame:
    """Shaped like a real criminal-justice export: names, birth and screening dates, charge degree and priors known at
    screening; the outcome (two_year_recid); and columns recorded after it: the new offence's charge degree, the days
    from screening to the new arrest, a recidivism flag, the end of the follow-up; and a few duplicated rows."""
    rng = np.random.default_rng(seed)
    first, last = rng.choice(["Ann", "Bo", "Carl", "Dee", "Eli", "Fay", "Gus", "Hal"], n), rng.choice(
        ["Smith", "Jones", "Brown", "Lee", "Diaz", "Khan", "Ng", "Ivanov", "Moreau", "Rossi"], n)
    age, priors = rng.integers(18, 70, n), rng.poisson(2, n)
    sex, race = rng.choice(["Male", "Female"], n, p=[0.8, 0.2]), rng.choice(["A", "B", "C"], n)
    degree = rng.choice(["F", "M"], n, p=[0.6, 0.4])
    y = (rng.random(n) < 1 / (1 + np.exp(-(-0.4 - 0.04 * (age - 35) + 0.3 * priors + 0.3 * (degree == "F"))))).astype(int)
    screened = pd.Timestamp("2013-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 730, n)), unit="D")
    days = np.where(y == 1, rng.integers(1, 730, n), np.nan)
    df = pd.DataFrame({
        "name": [f"{a} {b} {i}" for i, (a, b) in enumerate(zip(first, last))],
        "dob": (pd.Timestamp("1990-01-01") - pd.to_timedelta(age * 365, unit="D")).strftime("%Y-%m-%d"),
        "screening_date": screened.strftime("%Y-%m-%d"), "sex": sex, "race": race, "age": age, "priors_count": priors,
        "c_charge_degree": degree,
        "r_charge_degree": np.where(y == 1, rng.choice(["(F3)", "(M1)", "(M2)"], n), ""),  # the new offence: after the outcome
        "r_days_from_arrest": days,
        "is_recid": np.where(y == 1, "Yes", "No"),
        "end": (screened + pd.to_timedelta(np.where(y == 1, days, 730), unit="D")).strftime("%Y-%m-%d"),
        "two_year_recid": y})
    return pd.concat([df, df.sample(20, random_state=seed)], ignore_index=True)  # exports repeat rows


LEAKS = ["is_recid", "r_charge_degree", "r_days_from_arrest"]
HONEST = ["age", "priors_count", "c_charge_degree", "sex", "race"]


@pytest.fixture(scope="module")
def export():
    return reoffending_export()


def test_numeric_categorical_and_copy_leaks_are_found(export):
    "Each leak is named with its check, number and fix; the honest columns, known at screening, are not."
    rep = check_leakage(export, "two_year_recid", "classification", HONEST + LEAKS)
    found = {(f.column, f.check) for f in rep.failures}
    assert found == {("is_recid", "one_to_one"), ("is_recid", "single_feature"), ("r_charge_degree", "single_feature"),
                     ("r_days_from_arrest", "single_feature")}
    for f in rep.failures:
        assert f.column in f.reading and "leakage.allow" in f.fix and "data.exclude" in f.fix
        if f.check == "single_feature": assert f.value > 0.99 and f.threshold == 0.95 and "roc_auc 1.000" in f.reading
    assert all(rep.scores[c]["score"] < 0.8 for c in HONEST)
    assert LeakageReport.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep


def test_noisy_honest_feature_and_row_ids_are_not_leaks():
    "A strong but noisy feature stays under the threshold; a row id (one row per value) scores like a coin."
    rng = np.random.default_rng(3)
    x = rng.normal(size=5000)
    y = (x + rng.normal(0, 0.6, 5000) > 0).astype(int)
    df = pd.DataFrame({"x": x, "row": np.arange(5000), "code": [f"R{i:05d}" for i in rng.permutation(5000)], "y": y})
    rep = check_leakage(df, "y", "classification", ["x"], ids=["row", "code"])
    assert rep.findings == [] and 0.8 < rep.scores["x"]["score"] < 0.95
    assert abs(rep.scores["code"]["score"] - 0.5) < 0.05


def test_an_identifier_that_predicts_the_target(export):
    "Case numbers given out after the outcome was known (reoffenders numbered last) predict it: an identifier finding."
    df = export.sort_values("two_year_recid").assign(case_no=lambda d: np.arange(len(d)))
    rep = check_leakage(df, "two_year_recid", "classification", HONEST, ids=["case_no"], time="screening_date")
    assert [(f.column, f.check) for f in rep.failures] == [("case_no", "identifier")]
    assert "identifier 'case_no'" in rep.failures[0].reading and "how this column was filled in" in rep.failures[0].fix
    assert rep.scores["screening_date"]["role"] == "time"


def test_regression_and_multiclass_variants():
    rng = np.random.default_rng(4)
    n = 4000
    area = rng.gamma(4, 30, n)
    price = 50 + 2 * area + rng.normal(0, 60, n)
    df = pd.DataFrame({"area": area, "rooms": rng.integers(1, 7, n), "price_per_m2": price / area, "price_k": price,
                       "tax_paid": price * 0.03 + rng.normal(0, 0.5, n)})  # a tax computed from the sale price
    rep = check_leakage(df, "price_k", "regression", ["area", "rooms", "tax_paid"])
    assert rep.metric == "r2" and [(f.column, f.check) for f in rep.failures] == [("tax_paid", "single_feature")]
    assert rep.scores["area"]["score"] < 0.9
    assert one_to_one(pd.Series(price / 1000), price) and not one_to_one(pd.Series(area), price)
    band = np.digitize(price, np.quantile(price, [1 / 3, 2 / 3]))
    mc = pd.DataFrame({"area": area, "band_label": np.array(["low", "mid", "high"])[band], "band": band})
    rep = check_leakage(mc, "band", "multiclass", ["area", "band_label"])
    assert rep.metric == "roc_auc_ovr" and {f.column for f in rep.failures} == {"band_label"}
    assert 0.6 < rep.scores["area"]["score"] < 0.95


def test_the_demo_data_has_no_leak():
    "Every feature of the bundled ACS demo (as init wrote them) is kept; the demo's id and year predict nothing."
    p = load_params(REPO / "params.yaml")
    df = pd.read_parquet(REPO / p.data.path)
    rep = check_leakage(df, p.data.target, p.data.task, p.data.features, p.data.id, p.data.time)
    assert rep.findings == [] and rep.rows == 50_000 and set(rep.scores) == {*p.data.features, *p.data.id, p.data.time}
    assert max(s["score"] for s in rep.scores.values()) < 0.9


def test_init_leaves_clear_leaks_out_with_the_reason(export):
    "infer_columns (mlops-nb init) moves each leak to exclude, with a reason render_params writes as a comment."
    from mlops_nb.scaffold import infer_columns, render_params
    roles = infer_columns(export, "two_year_recid", sensitive=["sex", "race"], time_column="screening_date")
    assert set(LEAKS) <= set(roles["exclude"]) and not set(LEAKS) & set(roles["numeric"] + roles["categorical"])
    assert {"age", "priors_count", "c_charge_degree", "sex", "race"} <= set(roles["numeric"] + roles["categorical"])
    assert "target under another name" in roles["exclude"]["is_recid"]
    assert "roc_auc 1.000" in roles["exclude"]["r_days_from_arrest"] and "leakage.allow" in roles["exclude"]["r_days_from_arrest"]
    text = render_params("data/raw/x.csv", "two_year_recid", roles, sensitive=["sex", "race"], time_column="screening_date")
    assert "#   r_charge_degree: a target leak: alone predicts" in text
    p = parse_params(yaml.safe_load(text))
    assert p.leakage == LeakageParams() and set(LEAKS) <= set(p.data.exclude)
    assert leak_exclusions(export, "two_year_recid", "classification", HONEST) == {}


def test_model_check_from_a_synthetic_explanation():
    "An implausible test score with one dominant SHAP feature is a finding; either alone is not."
    cfg = LeakageParams()
    shap_importance = {"r_days_from_arrest": 1.9, "priors_count": 0.3, "age": 0.2}
    f = model_check({"roc_auc": 0.997, "accuracy": 0.98}, shap_importance, "classification", cfg)
    assert (f.column, f.check, f.value, f.threshold) == ("r_days_from_arrest", "model", 0.997, 0.99) and "79%" in f.reading
    assert model_check({"roc_auc": 0.86}, shap_importance, "classification", cfg) is None
    assert model_check({"roc_auc": 0.997}, {"a": 0.4, "b": 0.35, "c": 0.3}, "classification", cfg) is None
    assert model_check({"roc_auc_ovr": 0.995}, shap_importance, "multiclass", cfg).metric == "roc_auc_ovr"
    assert model_check({"r2": 0.999}, shap_importance, "regression", cfg).metric == "r2"


def test_bad_leakage_params_are_named(tmp_path, export):
    "A threshold out of range, an unknown key, and a leakage.allow column that is not checked: each error names the key."
    base = {"data": {"path": "d.csv", "target": "two_year_recid", "numeric": ["age"], "categorical": ["sex"]}}
    with pytest.raises(ConfigError, match=r"leakage.max_auc = 0.4"):
        parse_params({**base, "leakage": {"max_auc": 0.4}})
    with pytest.raises(ConfigError, match=r"unknown key 'leakage.alow'.*allow"):
        parse_params({**base, "leakage": {"alow": ["age"]}})
    from mlops_nb import stages
    params = parse_params({**base, "leakage": {"allow": ["agee"]}})
    with pytest.raises(DataError, match=r"leakage.allow names \['agee'\].*Did you mean 'age'"):
        stages.leakage_check(tmp_path, params, export)
    assert not (tmp_path / "reports").exists()  # nothing written


@pytest.mark.slow
def test_init_excludes_the_leak_and_a_leak_put_back_fails_the_gate(tmp_path, export):
    """End to end on an export: init leaves the leaks out (reasons in params.yaml); a leak put back into the features by
    hand is named by prepare, and `dvc repro` stops at the gate with the column, its number and the fix."""
    export.to_csv(tmp_path / "compas.csv", index=False)
    root = tmp_path / "recid"
    run(["mlops-nb", "init", str(root), "--data", str(tmp_path / "compas.csv"), "--target", "two_year_recid",
         "--sensitive", "race", "--time-column", "screening_date", "--estimator", "logistic_regression"], tmp_path)
    text = (root / "params.yaml").read_text()
    p = yaml.safe_load(text)
    assert set(LEAKS) <= set(p["data"]["exclude"]) and "#   r_days_from_arrest: a target leak: alone predicts" in text
    p["data"]["numeric"].append("r_days_from_arrest")  # someone puts it back
    p["leakage"]["allow"] = ["age"]
    p["explain"]["sample_size"] = 300; p["fairness"]["n_boot"] = 20
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    run(["git", "add", "-A"], root); run(["git", *GIT_ID, "commit", "-qm", "leak put back"], root)
    r = run(["dvc", "repro"], root, check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "leakage.single_feature[r_days_from_arrest]" in out and "FAIL" in out
    prep = (root / "reports/notebooks/prepare.ipynb").read_text()  # prepare's report names it (and warns on stderr)
    assert "leakage: feature 'r_days_from_arrest' alone predicts 'two_year_recid' with roc_auc" in prep
    assert "FINDING single_feature[r_days_from_arrest]" in prep
    leak = json.loads((root / "reports/data/leakage.json").read_text())
    assert [f["column"] for f in leak["findings"]] == ["r_days_from_arrest"] and leak["scores"]["age"]["role"] == "feature"
    gates = json.loads((root / "reports/gates.json").read_text())
    g = {x["name"]: x for x in gates["gates"] if x["family"] == "leakage"}
    bad = g["leakage.single_feature[r_days_from_arrest]"]
    assert not bad["passed"] and bad["value"] > 0.99 and "data.exclude" in bad["evidence"]["fix"]
    assert gates["verdict"] == "fail" and not (root / "reports/registry.json").exists()  # never registered


@pytest.mark.slow
def test_the_demo_passes_the_leakage_gates(built_demo):
    "The session's built demo: prepare found no leak, and the gate report shows the leakage gates passing like the others."
    leak = json.loads((built_demo / "reports/data/leakage.json").read_text())
    assert leak["findings"] == [] and leak["schema"] == "mlops_nb.leakage/1"
    gates = json.loads((built_demo / "reports/gates.json").read_text())
    g = [x for x in gates["gates"] if x["family"] == "leakage"]
    strongest = max(leak["scores"], key=lambda c: leak["scores"][c]["score"])
    assert [x["name"] for x in g] == [f"leakage.strongest_column[{strongest}]", "leakage.model_score"]
    assert all(x["passed"] for x in g) and gates["verdict"] == "pass"
