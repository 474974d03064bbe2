"""mlops_nb.fairness against the reference, fairlearn 0.15 (MetricFrame and its disparity functions).

Every group metric and every disparity must agree to 1e-9 on random data and on the edge cases where
fairlearn has to decide what 0/0 is; plus validation errors, exclusion of small groups, the bootstrap,
and the JSON round trip."""
import json, warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (MetricFrame, count, demographic_parity_difference, demographic_parity_ratio,
                               equalized_odds_difference, false_positive_rate, selection_rate, true_positive_rate)
from sklearn.metrics import accuracy_score, precision_score

from mlops_nb.core import DataError, MlopsError, _jsonable, read_json, write_json
from mlops_nb.fairness import (METRICS, MISSING, SUMMARIES, FairnessReport, GroupCounts, fairness_report, group_counts,
                               group_metrics, plot_fairness)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
TOL = 1e-9
COLS = ["count", "selection_rate", "tpr", "fpr", "accuracy", "precision"]


def reference(yt, yp, sf):
    "fairlearn's by-group table (our column names) and its three disparity functions."
    mf = MetricFrame(metrics={"count": count, "selection_rate": selection_rate, "tpr": true_positive_rate,
                              "fpr": false_positive_rate, "accuracy": accuracy_score, "precision": precision_score},
                     y_true=yt, y_pred=yp, sensitive_features=sf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summ = {"demographic_parity_difference": demographic_parity_difference(yt, yp, sensitive_features=sf),
                "equalized_odds_difference": equalized_odds_difference(yt, yp, sensitive_features=sf),
                "selection_rate_ratio": demographic_parity_ratio(yt, yp, sensitive_features=sf)}
    return mf.by_group, summ


def assert_agree(ours: pd.DataFrame, ref: pd.DataFrame):
    "Same groups, and every metric within TOL (NaN only where both are NaN)."
    assert len(ours) == len(ref), (list(ours.index), list(ref.index))
    aligned = ours.reindex(ref.index)
    assert not aligned["count"].isna().any(), f"groups differ: {list(ours.index)} vs {list(ref.index)}"
    np.testing.assert_allclose(aligned[COLS].to_numpy(float), ref[COLS].to_numpy(float), rtol=0, atol=TOL)


def assert_summary_agrees(report, feature, ref_summ):
    for k, v in ref_summ.items():
        got = report.features[feature].summary[k]["value"]
        if np.isnan(v): assert np.isnan(got), (k, got)
        else: assert abs(got - v) <= TOL, (k, got, v)


def random_case(seed, k, n=3000):
    "Unequal group sizes (some tiny), group-dependent base rates and selection: exercises 0/0 groups."
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.full(k, 0.7))
    g = rng.choice(np.array([f"g{i:02d}" for i in range(k)], dtype=object), n, p=w)
    base, sel = dict(zip(sorted(set(g)), rng.uniform(0, 1, k))), dict(zip(sorted(set(g)), rng.uniform(0, 1, k)))
    yt = rng.binomial(1, [base[x] for x in g])
    yp = rng.binomial(1, np.clip([sel[x] for x in g] * np.where(yt == 1, 1.3, 0.7), 0, 1))
    return yt, yp, g


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 5, 17])
def test_random_data_agrees_with_fairlearn(seed, k):
    yt, yp, g = random_case(seed, k)
    ref, summ = reference(yt, yp, pd.Series(g, name="grp"))
    counts = group_counts(yt, yp, pd.Series(g, name="grp"))
    assert_agree(group_metrics(counts), ref)
    report = fairness_report(yt, yp, pd.DataFrame({"grp": g}), min_group_size=0, n_boot=0)
    assert_agree(report.features["grp"].table(), ref)
    assert_summary_agrees(report, "grp", summ)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_intersection_agrees_with_fairlearn(seed):
    rng = np.random.default_rng(seed)
    n = 4000
    sf = pd.DataFrame({"SEX": rng.choice([1, 2], n), "RAC1P": rng.choice([1, 2, 3, 6, 8, 9], n, p=[.6, .2, .1, .05, .04, .01])})
    yt = rng.binomial(1, 0.4, n)
    yp = rng.binomial(1, np.where(yt == 1, 0.7, 0.2) * np.where(sf.SEX == 2, 0.7, 1))
    ref, summ = reference(yt, yp, sf)
    assert_agree(group_metrics(group_counts(yt, yp, sf)), ref)
    report = fairness_report(yt, yp, sf, min_group_size=0, n_boot=0, intersections=True)
    assert list(report.features) == ["SEX", "RAC1P", "SEX×RAC1P"]
    assert_agree(report.features["SEX×RAC1P"].table(), ref)
    assert_summary_agrees(report, "SEX×RAC1P", summ)
    for col in sf:  # and each column on its own, summed up from the same combination table
        ref1, summ1 = reference(yt, yp, sf[col])
        assert_agree(report.features[col].table(), ref1)
        assert_summary_agrees(report, col, summ1)


EDGE_Y = np.array([0, 0, 0, 1, 1, 0, 1, 1, 1, 0])
EDGE_P = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1, 1])


@pytest.mark.parametrize("groups", [
    pytest.param(list("aaabbbccdd"), id="str"),
    pytest.param([3, 3, 3, 1, 1, 1, 7, 7, 2, 2], id="int"),
    pytest.param(pd.Categorical(list("aaabbbccdd"), categories=list("dzcba")), id="categorical"),
    pytest.param([True, True, True, False, False, False, True, True, False, False], id="bool"),
    pytest.param(np.array([1.5, 1.5, 1.5, 2.5, 2.5, 2.5, 0.5, 0.5, 9.0, 9.0]), id="float"),
])
def test_label_types_and_undefined_ratios_agree(groups):
    "Group 'a' (first 3 rows) has no positives; group 'c' (rows 7-8) has no predicted positives."
    sf = pd.Series(groups, name="g")
    ref, summ = reference(EDGE_Y, EDGE_P, sf)
    ours = group_metrics(group_counts(EDGE_Y, EDGE_P, sf))
    assert_agree(ours, ref)
    report = fairness_report(EDGE_Y, EDGE_P, sf.to_frame(), min_group_size=0, n_boot=0)
    assert_summary_agrees(report, "g", summ)


def test_undefined_ratios_are_zero_like_fairlearn():
    ours = group_metrics(group_counts(EDGE_Y, EDGE_P, list("aaabbbccdd")))
    assert ours.loc["a", "tpr"] == 0.0              # no positives: 0/0
    assert ours.loc["c", "precision"] == 0.0        # no predicted positives: 0/0
    assert ours.loc["c", "selection_rate"] == 0.0
    allpos = group_metrics(group_counts([1, 1], [1, 1], ["x", "x"]))
    assert allpos.loc["x", "fpr"] == 0.0            # no negatives: 0/0
    ref, _ = reference(np.array([1, 1]), np.array([1, 1]), ["x", "x"])
    assert_agree(allpos, ref)


def test_nobody_selected_ratio_is_nan_like_fairlearn():
    yt, yp, g = np.array([1, 0, 1, 0]), np.zeros(4, int), ["a", "a", "b", "b"]
    r = fairness_report(yt, yp, pd.DataFrame({"g": g}), min_group_size=0, n_boot=0)
    assert np.isnan(demographic_parity_ratio(yt, yp, sensitive_features=g))
    assert np.isnan(r.features["g"].summary["selection_rate_ratio"]["value"])
    assert r.features["g"].summary["demographic_parity_difference"]["value"] == 0.0


def test_one_group_only():
    yt, yp, _ = random_case(5, 1, n=500)
    g = ["only"] * 500
    ref, summ = reference(yt, yp, g)
    r = fairness_report(yt, yp, pd.DataFrame({"g": g}), n_boot=50)
    assert_agree(r.features["g"].table(), ref)
    assert_summary_agrees(r, "g", summ)
    assert summ["demographic_parity_difference"] == 0 and summ["selection_rate_ratio"] == 1


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_missing_group_labels_are_a_group(missing):
    groups = ["a", "a", missing, "b", "b", missing, "a", "b", missing, "a"]
    c = group_counts(EDGE_Y, EDGE_P, groups)
    assert c.groups == ("a", "b", MISSING)
    assert c.n.sum() == len(EDGE_Y) and c.n[-1] == 3          # nobody dropped
    filled = pd.Series(groups, dtype=object).fillna(MISSING)   # fairlearn refuses missing values: fill, compare
    ref, summ = reference(EDGE_Y, EDGE_P, filled.rename("g"))
    assert_agree(group_metrics(c), ref)
    r = fairness_report(EDGE_Y, EDGE_P, pd.DataFrame({"g": groups}), min_group_size=0, n_boot=0)
    assert_summary_agrees(r, "g", summ)


def test_missing_in_numeric_and_categorical_columns():
    c = group_counts([1, 0, 1], [1, 1, 0], pd.Series([2, None, 1], dtype="Int64"))
    assert c.groups == (1, 2, MISSING)
    c = group_counts([1, 0, 1], [1, 1, 0], pd.Categorical(["m", None, "f"], categories=["m", "f"]))
    assert c.groups == ("m", "f", MISSING)   # a categorical keeps its category order


def test_group_order_and_label_types():
    c = group_counts([1, 0, 1, 0], [1, 1, 0, 0], np.array([10, 2, 10, 2]))
    assert c.groups == (2, 10) and all(type(g) is int for g in c.groups)
    c = group_counts([1, 0], [1, 1], [True, False])
    assert c.groups == (False, True) and all(type(g) is bool for g in c.groups)


def test_length_mismatch_error_states_lengths():
    with pytest.raises(DataError, match="y_true has 3 rows, y_pred has 2 rows, groups has 3 rows: they must have the same length"):
        group_counts([1, 0, 1], [1, 0], ["a", "b", "c"])
    with pytest.raises(DataError, match="sensitive has 2 rows"):
        fairness_report([1, 0, 1], [1, 0, 1], pd.DataFrame({"s": ["a", "b"]}))


@pytest.mark.parametrize("y_true, y_pred, expect", [
    ([0, 1, 2], [0, 1, 1], "y_true must hold binary labels 0/1"),
    ([-1, 1, 1], [0, 1, 1], "y_true must hold binary labels 0/1"),
    (["yes", "no", "yes"], [0, 1, 1], r"Map the positive class to 1 first"),
    ([0, 1, np.nan], [0, 1, 1], r"1 of 3 values are not, e.g. a missing value \(NaN\)"),
    ([0, 1, 1], [0.2, 0.9, 0.6], r"y_pred must hold binary labels.*Threshold scores first"),
])
def test_non_binary_labels_error(y_true, y_pred, expect):
    with pytest.raises(DataError, match=expect):
        group_counts(y_true, y_pred, ["a", "b", "c"])
    with pytest.raises(DataError, match=expect):
        fairness_report(y_true, y_pred, pd.DataFrame({"s": ["a", "b", "c"]}))


def test_binary_label_forms_accepted():
    g = ["a", "b", "a"]
    expected = group_counts([0, 1, 1], [1, 1, 0], g)
    for yt, yp in [([False, True, True], [True, True, False]), (np.array([0., 1., 1.]), np.array([1., 1., 0.])),
                   (pd.Series([0, 1, 1], dtype="Int64"), pd.Series([1, 1, 0], dtype="int8"))]:
        assert group_counts(yt, yp, g) == expected


def test_other_bad_inputs():
    with pytest.raises(DataError, match="no sensitive columns"):
        fairness_report([1], [1], pd.DataFrame(index=[0]))
    with pytest.raises(DataError, match="Bin it first"):
        fairness_report(np.zeros(2000, int), np.zeros(2000, int), pd.DataFrame({"id": np.arange(2000)}))
    with pytest.raises(MlopsError, match="ci = 1.5"):
        fairness_report([1, 0], [1, 0], pd.DataFrame({"s": ["a", "b"]}), ci=1.5)
    with pytest.raises(DataError, match="rename that label"):
        group_counts([1, 0], [1, 0], [MISSING, None])


def test_small_groups_are_excluded_and_listed():
    rng = np.random.default_rng(3)
    g = np.array(["big"] * 500 + ["mid"] * 300 + ["tiny"] * 12 + ["wee"] * 29, dtype=object)
    yt = rng.binomial(1, 0.5, len(g))
    yp = np.where(g == "tiny", 0, rng.binomial(1, 0.5, len(g)))  # 'tiny' would dominate the disparity
    r = fairness_report(yt, yp, pd.DataFrame({"g": g}), min_group_size=30, n_boot=20)
    ff = r.features["g"]
    assert ff.excluded == ({"group": "tiny", "count": 12}, {"group": "wee", "count": 29})
    assert [x["group"] for x in ff.groups] == ["big", "mid", "tiny", "wee"]           # still reported
    assert [x["included"] for x in ff.groups] == [True, True, False, False]
    keep = np.isin(g, ["big", "mid"])
    _, summ = reference(yt[keep], yp[keep], g[keep])                                  # summary = included groups only
    assert_summary_agrees(r, "g", summ)
    assert r.summary_table().loc[("g", "demographic_parity_difference"), "excluded"] == 2
    everything = fairness_report(yt, yp, pd.DataFrame({"g": g}), min_group_size=0, n_boot=0)
    assert everything.features["g"].excluded == ()
    assert everything.features["g"].summary["demographic_parity_difference"]["value"] > 0.4


def test_all_groups_excluded_gives_null_summaries():
    r = fairness_report([1, 0, 1], [1, 0, 0], pd.DataFrame({"g": ["a", "b", "b"]}), min_group_size=30, n_boot=10)
    assert len(r.features["g"].excluded) == 2
    assert all(np.isnan(v["value"]) for v in r.features["g"].summary.values())
    assert json.loads(json.dumps(_jsonable(r.to_dict())))["features"]["g"]["summary"]["min_tpr"]["value"] is None


@pytest.fixture(scope="module")
def acs_like():
    rng = np.random.default_rng(11)
    n = 20_000
    sf = pd.DataFrame({"SEX": rng.choice([1, 2], n), "RAC1P": rng.choice([1, 2, 6, 8, 9], n, p=[.6, .2, .1, .08, .02])})
    yt = rng.binomial(1, 0.45, n)
    yp = rng.binomial(1, np.where(yt == 1, 0.8, 0.15) * np.where(sf.SEX == 2, 0.75, 1.0))
    return yt, yp, sf


def test_bootstrap_intervals_contain_estimates_and_are_reproducible(acs_like):
    yt, yp, sf = acs_like
    r = fairness_report(yt, yp, sf, n_boot=200, seed=42, intersections=True)
    for ff in r.features.values():
        for g in ff.groups:
            for m in METRICS:
                lo, hi = g["ci"][m]
                assert lo <= g[m] <= hi, (ff.feature, g["group"], m, lo, g[m], hi)
        for k in ("selection_rate_ratio", "min_tpr", "max_fpr", "min_selection_rate"):
            lo, hi = ff.summary[k]["ci"]
            assert lo <= ff.summary[k]["value"] <= hi, (ff.feature, k)
    sex = r.features["SEX"].summary
    assert sex["demographic_parity_difference"]["ci"][0] > 0.05        # a real disparity is resolved
    assert sex["selection_rate_ratio"]["ci"][1] < 0.9
    assert fairness_report(yt, yp, sf, n_boot=200, seed=42, intersections=True) == r
    other = fairness_report(yt, yp, sf, n_boot=200, seed=43, intersections=True)
    assert other != r
    assert other.features["SEX"].groups[0]["selection_rate"] == r.features["SEX"].groups[0]["selection_rate"]
    none = fairness_report(yt, yp, sf, n_boot=0)
    assert none.features["SEX"].groups[0]["ci"] is None and none.features["SEX"].summary["min_tpr"]["ci"] is None


def test_bootstrap_chunks_do_not_change_draws(acs_like):
    "Drawing the resamples in chunks (to bound memory) gives the same numbers as drawing them at once."
    from mlops_nb import fairness as F
    yt, yp, sf = acs_like
    combo, parts, labels = F._encode(F._as_columns(sf))
    table = F._cell_counts(combo, F._binary(yt, "y"), F._binary(yp, "y"), len(parts))
    feats = [(parts[:, 0], 2, np.array([True, True]))]
    a = F._bootstrap(table, feats, 50, seed=1)
    b = F._bootstrap(table, feats, 50, seed=1, chunk_cells=4 * len(parts) * 7)
    for m in METRICS: np.testing.assert_array_equal(a[0][0][m], b[0][0][m])


def test_count_bootstrap_matches_row_bootstrap(acs_like):
    "Multinomial draws of the cell counts have the distribution of resampling rows: compare with a row bootstrap."
    yt, yp, sf = acs_like
    yt, yp, race = yt[:4000], yp[:4000], sf.RAC1P.to_numpy()[:4000]
    r = fairness_report(yt, yp, pd.DataFrame({"RAC1P": race}), n_boot=2000, seed=0, min_group_size=0)
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(2000):
        i = rng.integers(0, len(yt), len(yt))
        m = group_metrics(group_counts(yt[i], yp[i], race[i]))
        rows.append(m["tpr"].reindex([1, 2, 6, 8, 9]).to_numpy())
    rows = np.array(rows)
    for j, g in enumerate(r.features["RAC1P"].groups):
        lo, hi = np.nanpercentile(rows[:, j], [2.5, 97.5])
        width = hi - lo
        assert abs(g["ci"]["tpr"][0] - lo) < 0.15 * width + 0.01 and abs(g["ci"]["tpr"][1] - hi) < 0.15 * width + 0.01, \
            (g["group"], g["ci"]["tpr"], (lo, hi))


def test_json_round_trip(tmp_path, acs_like):
    yt, yp, sf = acs_like
    sf = sf.assign(SEX=sf.SEX.map({1: "m", 2: "f"}).where(np.arange(len(sf)) % 97 > 0))  # strings and missing
    r = fairness_report(yt, yp, sf, n_boot=30, intersections=True)
    text = json.dumps(_jsonable(r.to_dict()))
    back = FairnessReport.from_dict(json.loads(text))
    assert back == r
    assert back.features["SEX×RAC1P"].groups[0]["group"] == ("f", 1)  # tuples come back as tuples
    assert json.dumps(_jsonable(back.to_dict())) == text
    write_json(tmp_path / "fairness.json", r)  # the store's convention: NaN becomes null
    assert FairnessReport.from_dict(read_json(tmp_path / "fairness.json")) == r
    d = json.loads(text)
    assert d["schema"] == "mlops_nb.fairness/1" and "four_fifths_rule" in d["notes"]
    assert set(d["features"]["SEX"]["summary"]) == set(SUMMARIES)
    assert set(d["features"]["SEX"]["groups"][0]) == {"group", "included", "count", "tp", "fp", "tn", "fn", *METRICS, "ci"}
    # NaN survives the trip as NaN (null in JSON), for the report and for the counts
    nan = fairness_report([1, 0], [0, 0], pd.DataFrame({"g": ["a", "b"]}), min_group_size=0, n_boot=5)
    nd = json.loads(json.dumps(_jsonable(nan.to_dict())))
    assert nd["features"]["g"]["summary"]["selection_rate_ratio"]["value"] is None
    assert np.isnan(FairnessReport.from_dict(nd).features["g"].summary["selection_rate_ratio"]["value"])
    assert FairnessReport.from_dict(nd) == nan
    c = group_counts(yt, yp, sf)
    assert GroupCounts.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(MlopsError, match="not a fairness report"):
        FairnessReport.from_dict({"schema": "mlops_nb.gates/1"})


def test_plot_fairness(acs_like):
    import matplotlib
    matplotlib.use("Agg")
    yt, yp, sf = acs_like
    r = fairness_report(yt, yp, sf, n_boot=20, intersections=True)
    fig = plot_fairness(r, "RAC1P", thresholds={"min_tpr": 0.7, "max_fpr": 0.2, "selection_rate_ratio": 0.8})
    axes = fig.axes
    assert [a.get_ylabel() for a in axes] == ["selection rate", "true positive rate", "false positive rate", "accuracy"]
    assert all(a.get_xlabel() == "RAC1P" for a in axes)
    assert [t.get_text() for t in axes[0].get_xticklabels()][0].startswith("1\n(n=")
    assert len(axes[1].get_lines()) >= 1 and len(axes[2].get_lines()) >= 1       # threshold lines
    fig2 = plot_fairness(r, "SEX×RAC1P", metrics=("tpr",))
    assert len(fig2.axes) == 1 and fig2.axes[0].get_xticklabels()[0].get_text().startswith("1×1\n")
    with pytest.raises(MlopsError, match="Did you mean 'RAC1P'"):
        plot_fairness(r, "rac1p")
