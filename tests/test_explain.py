"""mlops_nb.explain on the demo data: additivity for every explainer, the column mapping, refusal of wrong SHAP values."""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder, PolynomialFeatures

from mlops_nb.core import MlopsError
from mlops_nb.explain import (AdditivityError, Explanation, column_origins, compare_importance, explain_pipeline,
                              plot_beeswarm, plot_importance, plot_waterfall, sample_rows)
from mlops_nb.model import build_pipeline, make_estimator

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # `import shap` warns about matplotlib
    import shap

DATA = Path(__file__).resolve().parents[1] / "data" / "raw" / "acs_employment_ma.parquet"
NUM = ["AGEP"]
CAT = "SCHL MAR RELP DIS ESP CIT MIG MIL ANC NATIVITY DEAR DEYE DREM SEX RAC1P".split()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    "Single-threaded OpenMP/BLAS: on a busy 2-core machine, threaded fits of these small models are 5-15x slower."
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def acs():
    "6,000 training and 2,000 explained rows of the demo data."
    df = pd.read_parquet(DATA).sample(8000, random_state=0)
    X, y = df[NUM + CAT], df["employed"]
    return X.iloc[:6000], y.iloc[:6000], X.iloc[6000:], y.iloc[6000:]


@pytest.fixture(scope="module")
def pipes(acs):
    Xtr, ytr, _, _ = acs
    est = {"hgb": make_estimator("hist_gradient_boosting", {"max_iter": 50}),
           "lr": make_estimator("logistic_regression", {}),
           "rf": make_estimator("random_forest", {"n_estimators": 30})}
    return {k: build_pipeline(NUM, CAT, e).fit(Xtr, ytr) for k, e in est.items()}


def own_output(pipe, X, output):
    "The model's output computed by sklearn on the original rows, independently of explain_pipeline."
    return pipe.decision_function(X) if output == "log_odds" else pipe.predict_proba(X)[:, 1]


@pytest.mark.parametrize("name, explainer, output", [("hgb", "TreeExplainer", "log_odds"),
                                                      ("lr", "LinearExplainer", "log_odds"),
                                                      ("rf", "TreeExplainer", "probability")])
def test_additivity_holds(acs, pipes, name, explainer, output):
    _, _, X, y = acs
    e = explain_pipeline(pipes[name], X, y, sample_size=300)
    assert (e.explainer, e.output, e.n_sample, e.features) == (explainer, output, 300, NUM + CAT)
    assert e.additivity_error < 1e-6
    expected = own_output(pipes[name], X.iloc[e.positions], output)
    np.testing.assert_allclose(e.outputs, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(e.values.astype(float).sum(1) + e.expected_value, expected, rtol=0, atol=1e-5)
    assert list(e.importance.values()) == sorted(e.importance.values(), reverse=True)
    np.testing.assert_allclose(list(e.importance.values()),
                               np.abs(e.values).mean(0)[[e.features.index(f) for f in e.importance]], rtol=1e-5)


def test_additivity_holds_model_agnostic(acs):
    Xtr, ytr, X, y = acs
    cols = ["AGEP", "SCHL", "MAR", "SEX", "RAC1P"]
    knn = build_pipeline(["AGEP"], cols[1:], KNeighborsClassifier(25)).fit(Xtr[cols], ytr)
    e = explain_pipeline(knn, X[cols], y, sample_size=30, background_size=20)
    assert (e.explainer, e.output, e.n_sample, e.features) == ("KernelExplainer", "probability", 30, cols)
    assert e.explainer_options["nsamples"] == 2 ** 5 - 2  # five columns: every coalition, exact Shapley values
    np.testing.assert_allclose(e.outputs, knn.predict_proba(X[cols].iloc[e.positions])[:, 1], atol=1e-12)
    np.testing.assert_allclose(e.values.astype(float).sum(1) + e.expected_value, e.outputs, atol=1e-6)
    # the budget bounds the cost: fewer rows are explained, and the result says how many
    small = explain_pipeline(knn, X[cols], y, sample_size=30, background_size=20, agnostic_budget=30 * 20 * 5)
    assert small.n_sample == 5 and small.explainer_options["budget"] == 3000


def test_forest_budget_bounds_the_sample(acs, pipes):
    _, _, X, y = acs
    e = explain_pipeline(pipes["rf"], X, y, sample_size=300, forest_budget=30 * 50 * 40)  # 30 trees x 50 background rows
    assert e.n_sample == 40 and e.explainer_options["budget"] == 60_000
    assert e.additivity_error < 1e-6 and y.iloc[e.positions].sum() == round(40 * y.mean())


def test_regression_explains_the_prediction(acs):
    Xtr, _, X, _ = acs
    ytr = Xtr["AGEP"] * 0 + (Xtr["SCHL"].astype(int) * 1000.0)  # a value target on a large scale
    for name, hp in (("hist_gradient_boosting", {"max_iter": 30}), ("logistic_regression", {})):  # Ridge for regression
        pipe = build_pipeline(NUM, CAT, make_estimator(name, hp, "regression")).fit(Xtr, ytr)
        e = explain_pipeline(pipe, X, sample_size=200)
        assert e.output == "value" and not e.stratified
        np.testing.assert_allclose(e.outputs, pipe.predict(X.iloc[e.positions]))
        assert e.additivity_error <= 1e-4 * max(1, np.abs(e.outputs).max())


@pytest.mark.parametrize("name", ["hgb", "lr", "rf"])
def test_mapped_sums_equal_unmapped(acs, pipes, name):
    "Each original column's SHAP value is the sum of its output columns' values (checked with sklearn's own names)."
    _, _, X, y = acs
    pipe = pipes[name]
    e = explain_pipeline(pipe, X, y, sample_size=200)
    Z = pipe[:-1].transform(X.iloc[e.positions])
    n_bg = {"hgb": 1, "lr": 200, "rf": 50}[name]  # the same background rows explain_pipeline draws (none for hgb)
    Zb = pipe[:-1].transform(X.iloc[np.sort(np.random.default_rng([0, 1]).choice(len(X), n_bg, replace=False))])
    if name == "hgb":
        raw = shap.TreeExplainer(pipe[-1]).shap_values(Z, check_additivity=False)
    elif name == "rf":
        raw = shap.TreeExplainer(pipe[-1], Zb, feature_perturbation="interventional").shap_values(Z)[..., 1]
        assert e.explainer_options == {"feature_perturbation": "interventional", "background": 50, "budget": 1_000_000}
    else:
        raw = shap.LinearExplainer(pipe[-1], shap.maskers.Independent(Zb, max_samples=200)).shap_values(Z)
    np.testing.assert_allclose(e.values.sum(1), raw.sum(1), atol=1e-5)
    np.testing.assert_allclose(np.abs(e.values).sum(), np.abs(e.values.astype(float)).sum())
    names = pipe[:-1].get_feature_names_out()
    for j, col in enumerate(e.features):
        mine = np.array([n == col or n.startswith(col + "_") for n in names])
        np.testing.assert_allclose(e.values[:, j], raw[:, mine].sum(1), atol=1e-5, err_msg=col)


def test_column_origins_counts_infrequent_columns(acs, pipes):
    _, _, X, _ = acs
    tree = pipes["hgb"][:-1]  # tree ensembles: one ordinal code per category column
    assert column_origins(tree, NUM + CAT) == NUM + CAT and tree.transform(X.head(3)).shape[1] == len(NUM + CAT)
    pre = pipes["lr"][:-1]  # linear models: one-hot columns, the rare categories of a column sharing one
    enc = pre.named_steps["preprocess"].named_transformers_["cat"][-1]
    rare = {c: len(r) for c, r in zip(CAT, enc.infrequent_categories_) if r is not None}
    assert rare, "the sample should have infrequent categories (min_frequency=10)"
    origins = column_origins(pre, NUM + CAT)
    assert len(origins) == pre.transform(X.head(3)).shape[1]
    for c, cats in zip(CAT, enc.categories_):
        assert origins.count(c) == len(cats) - rare.get(c, 0) + (1 if c in rare else 0), c


def test_unmappable_preprocessing_is_explained_on_the_raw_columns(acs):
    "PolynomialFeatures mixes columns, so SHAP per output cannot be traced back: the whole pipeline is explained model-agnostically."
    Xtr, ytr, X, y = acs
    pipe = Pipeline([("preprocess", ColumnTransformer([("num", PolynomialFeatures(2), ["AGEP", "SCHL"])])),
                     ("model", LogisticRegression(max_iter=2000))]).fit(Xtr.assign(SCHL=Xtr.SCHL.astype(int)), ytr)
    with pytest.raises(MlopsError, match="cannot tell which input column each output"):
        column_origins(pipe[:-1], list(pipe.feature_names_in_))
    e = explain_pipeline(pipe, X.assign(SCHL=X.SCHL.astype(int)), y, sample_size=10)
    assert (e.explainer, e.output, e.features) == ("KernelExplainer", "probability", list(pipe.feature_names_in_))
    assert e.additivity_error <= e.tolerance
    assert np.allclose(e.values.sum(axis=1) + e.expected_value, pipe.predict_proba(X.assign(SCHL=X.SCHL.astype(int)).iloc[e.positions])[:, 1], atol=1e-4)


def test_native_categorical_hgb_is_refused(acs):
    "shap's TreeExplainer returns wrong values for HGB on native categories without complaint; we refuse them."
    Xtr, ytr, X, y = acs
    pre = ColumnTransformer([("num", "passthrough", NUM), ("cat", OrdinalEncoder(handle_unknown="use_encoded_value",
                             unknown_value=np.nan), CAT)], verbose_feature_names_out=False)
    hgb = HistGradientBoostingClassifier(categorical_features=list(range(1, 1 + len(CAT))), max_iter=30, random_state=0)
    pipe = Pipeline([("preprocess", pre), ("model", hgb)]).fit(Xtr, ytr)
    Z = pipe[:-1].transform(X.head(200))
    explainer = shap.TreeExplainer(pipe[-1])
    sv = explainer.shap_values(Z)  # shap's own additivity check passes ...
    wrong = np.abs(sv.sum(1) + np.ravel(explainer.expected_value)[0] - pipe[-1].decision_function(Z)).max()
    assert wrong > 0.1  # ... although the values are far off the model's log-odds
    with pytest.raises(AdditivityError) as err:
        explain_pipeline(pipe, X, y, sample_size=200)
    msg = str(err.value)
    for part in ("TreeExplainer", "HistGradientBoostingClassifier", "log_odds", "tolerance 0.0001", "cannot be trusted",
                 "native categorical"):
        assert part in msg, (part, msg)
    assert isinstance(err.value, MlopsError)


def test_compare_importance():
    a = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}
    same = compare_importance(a, dict(a), k=3)
    assert (same["top_k_overlap"], same["spearman"], same["current_top"]) == (1.0, 1.0, ["a", "b", "c"])
    rev = compare_importance(a, {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}, k=2)
    assert rev["top_k_overlap"] == 0.0 and rev["spearman"] == pytest.approx(-1.0)
    assert rev["reference_top"] == ["d", "c"]
    # a feature the reference lacks ranks last there; k larger than the feature count uses them all
    new = compare_importance({"a": 3, "x": 2, "b": 1}, {"a": 3, "b": 2}, k=10)
    assert new["k"] == 3 and new["top_k_overlap"] == pytest.approx(2 / 3)
    assert new["only_current"] == ["x"] and new["only_reference"] == []
    assert new["spearman"] == pytest.approx(0.5)  # ranks a,b,x: (3,1,2) vs (3,2,1)
    # to_dict() results are accepted as they are; the result is plain JSON
    d = compare_importance({"importance": a}, {"importance": a})
    assert d["spearman"] == 1.0 and json.loads(json.dumps(d, allow_nan=False)) == d
    assert compare_importance({"a": 1}, {"a": 5})["spearman"] is None  # undefined with one feature: null, not NaN


def test_round_trip_through_json(acs, pipes):
    _, _, X, y = acs
    X = X.copy()
    X.iloc[::7, 0] = np.nan  # missing ages: NaN in the data must become null
    e = explain_pipeline(pipes["hgb"], X, y, sample_size=500)
    text = json.dumps(e.to_dict(), allow_nan=False)
    assert len(text) < 200_000
    d = json.loads(text)
    assert d["schema"] == "mlops_nb.explain/1" and d["local"]["n"] == 200 and d["n_sample"] == 500
    assert None in d["local"]["data"]["AGEP"]
    back = Explanation.from_dict(d)
    assert back.to_dict() == d
    assert back.importance == e.importance and back.features == e.features
    kept = back.positions
    assert set(kept) <= set(e.positions) and back.values.shape == (200, len(NUM + CAT))
    rows = np.searchsorted(e.positions, kept)
    np.testing.assert_array_equal(back.values, e.values[rows])  # float32 values survive exactly
    small = explain_pipeline(pipes["lr"], X, y, sample_size=50)
    again = Explanation.from_dict(json.loads(json.dumps(small.to_dict())))
    np.testing.assert_array_equal(again.values, small.values)
    np.testing.assert_array_equal(again.outputs, small.outputs)
    assert again.expected_value == small.expected_value and list(again.data.index) == list(small.data.index)


def test_stratified_sample_keeps_the_class_ratio(acs, pipes):
    _, _, X, y = acs
    y = y.copy()
    y.iloc[:] = (np.arange(len(y)) % 10 < 3).astype(int)  # exactly 30 % positives
    pipe = pipes["hgb"]
    e = explain_pipeline(pipe, X, y, sample_size=100)
    assert e.stratified and y.iloc[e.positions].sum() == 30
    assert list(e.data.index) == list(X.index[e.positions]) and list(e.positions) == sorted(e.positions)
    pos = sample_rows(1000, 99, np.r_[np.zeros(500), np.ones(300), np.full(200, 2)], seed=3)
    assert np.bincount(np.r_[np.zeros(500), np.ones(300), np.full(200, 2)].astype(int)[pos]).tolist() == [49, 30, 20]  # largest remainders
    assert explain_pipeline(pipe, X.head(40), y.head(40), sample_size=1000).n_sample == 40  # all rows if fewer


def test_local_frame_saves_as_parquet(acs, pipes, tmp_path):
    _, _, X, y = acs
    e = explain_pipeline(pipes["rf"], X, y, sample_size=100)
    f = e.local_frame()
    assert list(f.columns) == ["position"] + [f"shap_{c}" for c in NUM + CAT] + ["output", "expected_value"]
    assert len(f) == 100 and f.index.name == "row"
    f.to_parquet(tmp_path / "local.parquet")
    back = pd.read_parquet(tmp_path / "local.parquet")
    pd.testing.assert_frame_equal(back, f)
    np.testing.assert_allclose(back.filter(like="shap_").sum(axis=1) + back.expected_value, back.output, atol=1e-5)


def test_plots_are_labelled(acs, pipes):
    _, _, X, y = acs
    e = explain_pipeline(pipes["hgb"], X, y, sample_size=100)
    assert plot_importance(e).axes[0].get_xlabel() == "mean |SHAP| (log-odds)"
    assert "SHAP value (log-odds)" in plot_beeswarm(e).axes[0].get_xlabel()
    fig = plot_waterfall(Explanation.from_dict(e.to_dict()), 3)
    assert "log-odds" in fig.get_suptitle()
    with pytest.raises(MlopsError, match="not in the explanation"):
        plot_waterfall(e, 100)


def test_bad_inputs(acs, pipes):
    Xtr, ytr, X, y = acs
    with pytest.raises(MlopsError, match="lacks the column"):
        explain_pipeline(pipes["hgb"], X.drop(columns="SEX"), y)
    with pytest.raises(MlopsError, match="y has 10 labels"):
        explain_pipeline(pipes["hgb"], X, y.head(10))
    with pytest.raises(MlopsError, match="no rows"):
        explain_pipeline(pipes["hgb"], X.head(0), y.head(0))
    multi = build_pipeline(NUM, CAT, make_estimator("logistic_regression", {})).fit(Xtr, Xtr["MAR"].astype(int))
    with pytest.raises(MlopsError, match="3 class labels given for a model with 5 classes"):  # multiclass: tests/test_multiclass.py
        explain_pipeline(multi, X, sample_size=50, classes=["a", "b", "c"])


def test_model_agnostic_explainer_fits_its_time_budget(acs):
    "A model without an exact explainer: the rows explained are cut to fit explain.max_seconds, and the report says so."
    from sklearn.neighbors import KNeighborsClassifier
    Xtr, ytr, X, y = acs
    pipe = build_pipeline(NUM, CAT, KNeighborsClassifier(25)).fit(Xtr, ytr)
    free = explain_pipeline(pipe, X, y, sample_size=40, background_size=10)
    tight = explain_pipeline(pipe, X, y, sample_size=40, background_size=10, max_seconds=0.5)
    assert free.explainer == tight.explainer == "KernelExplainer" and free.n_sample == 40
    assert 1 <= tight.n_sample < 40 and tight.explainer_options["max_seconds"] == 0.5
    # the estimate fits the budget, unless even the fewest rows a report keeps (one per class) do not (a loaded machine)
    assert tight.explainer_options["estimated_seconds"] <= 0.5 or tight.n_sample <= 2
    assert tight.additivity_error <= tight.tolerance
