"""Drift engine (mlops_nb.drift): equal to scipy in exact mode, Evidently's test choice, findings,
bounded errors in streaming mode, and the same decisions from a local Dask cluster."""
import json, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from mlops_nb.config import DriftParams, parse_params
from mlops_nb.core import ConfigError, DataError, MlopsError
from mlops_nb.drift import DriftReport, compare, compare_dask, compare_parquet
from mlops_nb.drift_reference import DriftReference, build_reference, build_reference_parquet
from mlops_nb.drift_stats import psi
from mlops_nb.drift_summary import merge_summaries, summarize

EPS = 1e-9


def frames(n=6000, m=5000, seed=3):
    "A reference and a current batch: 3 numeric columns shifted, 1 not; categories with a shift and a new value."
    r = np.random.default_rng(seed)
    ref = pd.DataFrame({
        "a": r.normal(0, 1, n), "b": r.normal(0, 1, n), "c": r.lognormal(0, 1, n), "d": r.normal(5, 2, n),
        "few": r.integers(0, 4, n).astype(float), "ints": r.integers(0, 60, n),
        "cat": pd.Series(r.choice(list("abcde"), n), dtype="str"), "bin": pd.Series(r.choice(["y", "n"], n), dtype="str"),
        "score": r.beta(2, 5, n)})
    cur = pd.DataFrame({
        "a": r.normal(0.4, 1, m), "b": r.normal(0, 1.5, m), "c": r.lognormal(0.3, 1, m), "d": r.normal(5, 2, m),
        "few": r.integers(0, 5, m).astype(float), "ints": r.integers(0, 70, m),
        "cat": pd.Series(r.choice(list("abcdef"), m, p=[.3, .2, .2, .1, .1, .1]), dtype="str"),
        "bin": pd.Series(r.choice(["y", "n"], m), dtype="str"), "score": r.beta(2, 4, m)})
    cur.loc[:49, "d"] = np.nan
    return ref, cur

NUM, CAT = ["a", "b", "c", "d", "few", "ints"], ["cat", "bin"]


@pytest.fixture(scope="module")
def data():
    ref, cur = frames()
    return ref, cur, build_reference(ref, NUM, CAT, prediction="score", name="ref")


def evidently_binned(a, b, numeric=True):
    "Evidently's get_binned_data (no zero filling) on NaN-free series."
    a, b = pd.Series(a), pd.Series(b)
    if numeric and a.nunique() > 20:
        e = np.histogram_bin_edges(pd.concat([a, b]).values, bins="sturges")
        return np.histogram(a, e)[0] / len(a), np.histogram(b, e)[0] / len(b)
    keys = list(set(a.unique()) | set(b.unique()))
    va, vb = a.value_counts(), b.value_counts()
    return (np.array([va.get(k, 0) for k in keys]) / len(a), np.array([vb.get(k, 0) for k in keys]) / len(b))


# ---------------------------------------------------------------- exact mode = scipy
CASES = {
    "random": lambda r: (r.normal(size=900), r.normal(0.2, 1.1, 700)),
    "random_large": lambda r: (r.normal(size=30000), r.normal(0.01, 1, 20000)),   # KS asymptotic branch
    "tied": lambda r: (r.integers(0, 30, 5000).astype(float), r.integers(3, 33, 4000).astype(float)),
    "constant": lambda r: (np.full(200, 1.5), np.full(100, 1.5)),
    "constant_vs_other": lambda r: (np.full(200, 1.5), np.r_[np.full(90, 1.5), np.full(10, 2.5)]),
    "with_nan_inf": lambda r: (np.r_[r.normal(size=500), [np.nan] * 20, [np.inf]], np.r_[r.normal(size=400), [np.nan, -np.inf]]),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("test", ["ks", "wasserstein", "jensenshannon", "psi"])
def test_numeric_statistic_equals_scipy(case, test):
    a, b = CASES[case](np.random.default_rng(11))
    ref = build_reference(pd.DataFrame({"v": a}), ["v"], [])
    got = compare(ref, pd.DataFrame({"v": b}), DriftParams(columns={"v": {"test": test}})).column("v")
    fa, fb = a[np.isfinite(a)], b[np.isfinite(b)]
    if test == "ks": want = stats.ks_2samp(fa, fb).pvalue
    elif test == "wasserstein": want = stats.wasserstein_distance(fa, fb) / max(np.std(fa), 0.001)
    else:
        ra, rb = evidently_binned(fa, fb)
        want = distance.jensenshannon(ra, rb) if test == "jensenshannon" else psi(ra, rb)
    assert got.statistic == pytest.approx(want, abs=EPS, rel=EPS)
    assert got.error_bound == 0.0 and got.n == {"reference": len(fa), "current": len(fb)}


@pytest.mark.parametrize("test", ["chi2", "chi2_contingency", "jensenshannon", "z"])
def test_categorical_statistic_equals_scipy(test):
    r = np.random.default_rng(5)
    values = ["u", "v"] if test == "z" else list("pqrs")
    a = pd.Series(r.choice(values, 800), dtype="str")
    b = pd.Series(r.choice(values + ([] if test == "z" else ["new"]), 600), dtype="str")
    ref = build_reference(pd.DataFrame({"k": a}), [], ["k"])
    got = compare(ref, pd.DataFrame({"k": b}), DriftParams(columns={"k": {"test": test}})).column("k")
    keys = sorted(set(a) | set(b))
    ca, cb = np.array([(a == k).sum() for k in keys], float), np.array([(b == k).sum() for k in keys], float)
    if test == "chi2":
        with np.errstate(divide="ignore"): want = stats.chisquare(cb, ca * len(b) / len(a))[1]
    elif test == "chi2_contingency": want = stats.chi2_contingency(np.vstack([ca, cb]))[1]
    elif test == "jensenshannon": want = distance.jensenshannon(ca / len(a), cb / len(b))
    else:  # Evidently's two-proportion z-test on "not the first value"
        p1, p2 = (a != keys[0]).mean(), (b != keys[0]).mean()
        P = (p1 * len(a) + p2 * len(b)) / (len(a) + len(b))
        want = 2 * (1 - stats.norm.cdf(abs((p1 - p2) / np.sqrt(P * (1 - P) * (1 / len(a) + 1 / len(b))))))
    assert got.statistic == pytest.approx(want, abs=EPS, rel=EPS)


def test_all_null_and_empty_after_filtering_are_findings_not_crashes():
    ref = build_reference(pd.DataFrame({"x": np.arange(50.0), "z": [np.nan] * 50, "k": ["a"] * 50}), ["x", "z"], ["k"])
    rep = compare(ref, pd.DataFrame({"x": [np.inf, np.nan], "z": [1.0, 2.0], "k": [None, None]}))
    assert [(c.column, c.status, c.drifted, c.statistic) for c in rep.columns] == [
        ("x", "empty_column", False, None), ("z", "empty_column", False, None), ("k", "empty_column", False, None)]
    assert rep.n_columns == 0 and rep.share_drifted == 0.0 and rep.dataset_drift is False
    kinds = [f.kind for f in rep.findings]
    assert kinds.count("empty_column") == 3
    assert any("reference" in f.message for f in rep.findings if f.column == "z")


# ---------------------------------------------------------------- Evidently's choice of test
@pytest.mark.parametrize("n_ref,values,kind,want", [
    (1000, 6, "numeric", "ks"), (1001, 6, "numeric", "wasserstein"), (1000, 5, "numeric", "chi2"),
    (1000, 2, "numeric", "z"), (1001, 5, "numeric", "jensenshannon"), (1000, 3, "categorical", "chi2"),
    (1000, 2, "categorical", "z"), (1001, 3, "categorical", "jensenshannon")])
def test_default_test_follows_evidently_boundaries(n_ref, values, kind, want):
    r = np.random.default_rng(0)
    v = np.arange(n_ref) % values
    col = pd.Series(v.astype(float)) if kind == "numeric" else pd.Series([f"v{i}" for i in v], dtype="str")
    ref = build_reference(pd.DataFrame({"x": col}), ["x"] if kind == "numeric" else [], [] if kind == "numeric" else ["x"])
    cur = pd.DataFrame({"x": col.sample(300, random_state=1).reset_index(drop=True)})
    assert compare(ref, cur).column("x").test == want


def test_unique_values_of_reference_and_current_decide_together():
    "Evidently counts distinct values of reference ∪ current: 5 in the reference + 1 new = 6 > 5 -> ks."
    ref = build_reference(pd.DataFrame({"x": np.arange(500) % 5 * 1.0}), ["x"], [])
    assert compare(ref, pd.DataFrame({"x": np.arange(100) % 5 * 1.0})).column("x").test == "chi2"
    assert compare(ref, pd.DataFrame({"x": np.arange(100) % 6 * 1.0})).column("x").test == "ks"


def test_dataset_drift_share_and_overrides_from_params_yaml(data):
    ref, cur, reference = data
    rep = compare(reference, cur)
    drifted = {c.column for c in rep.columns if c.drifted}
    assert {"a", "b", "c", "cat"} <= drifted and "d" not in drifted and "bin" not in drifted
    assert rep.n_columns == 8 and rep.n_drifted == len(drifted)
    assert rep.dataset_drift == (rep.share_drifted >= 0.5)
    assert rep.prediction.column == "score" and "score" not in [c.column for c in rep.columns]
    params = parse_params({"data": {"path": "x.csv", "target": "y"},
                           "drift": {"threshold_share": 0.9, "columns": {"a": {"test": "psi", "threshold": 10},
                                                                          "d": {"test": "ks"}}}})
    rep2 = compare(reference, cur, params)
    assert rep2.column("a").test == "psi" and rep2.column("a").drifted is False
    assert rep2.column("a").statistic == rep2.column("a").psi
    assert rep2.column("d").test == "ks" and rep2.column("d").stat_kind == "p_value"
    assert rep2.dataset_drift is False and rep2.threshold_share == 0.9


def test_findings_missing_new_out_of_range_and_missing_column(data):
    ref, cur, reference = data
    rep = compare(reference, cur.drop(columns=["bin"]))
    by = {(f.column, f.kind): f for f in rep.findings}
    assert by[("cat", "new_categories")].count == (cur["cat"] == "f").sum()
    assert "'f'" in by[("cat", "new_categories")].message
    assert by[("d", "missing_values")].count == 50
    oor = by[("ints", "out_of_range")]
    assert oor.count == (cur["ints"] > ref["ints"].max()).sum() and "above" in oor.message
    assert ("bin", "missing_column") in by
    assert rep.column("bin").status == "missing_column" and rep.n_columns == 7
    # the model's score (or the label) absent from a batch is not a finding: its entry is simply null
    no_score = compare(reference, cur.drop(columns=["score"]))
    assert no_score.prediction is None and not [f for f in no_score.findings if f.column == "score"]
    assert no_score.to_dict()["prediction"] is None


def test_report_json_round_trip_and_reference_save_load(data, tmp_path):
    ref, cur, reference = data
    rep = compare(reference, cur, current_name="b1", window={"start": "2018", "end": "2018"})
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["schema"] == "mlops_nb.drift/1" and d["current"]["window"]["start"] == "2018"
    assert DriftReport.from_dict(d) == rep
    rep.save(tmp_path / "drift.json")
    assert DriftReport.load(tmp_path / "drift.json") == rep
    reference.save(tmp_path / "ref")
    loaded = DriftReference.load(tmp_path / "ref")
    assert compare(loaded, cur).to_dict()["columns"] == rep.to_dict()["columns"]
    assert sorted(p.name for p in (tmp_path / "ref").iterdir()) == ["reference.json", "values.parquet"]


def test_bad_inputs_have_clear_errors(data, tmp_path):
    ref, cur, reference = data
    with pytest.raises(DataError, match="column 'a' is listed as numeric"):
        compare(reference, cur.assign(a="text"))
    with pytest.raises(DataError, match=r"column\(s\) \['nope'\] not found"):
        build_reference(ref, ["a", "nope"], [])
    with pytest.raises(ConfigError, match="drift.columns.cat.test = wasserstein: needs a numeric column"):
        build_reference(ref, [], ["cat"], DriftParams(columns={"cat": {"test": "wasserstein"}}))
    with pytest.raises(ConfigError, match="drift.columns names \\['zz'\\]"):
        build_reference(ref, ["a"], [], DriftParams(columns={"zz": {"test": "ks"}}))
    with pytest.raises(ConfigError, match="unknown key 'drift.treshold_share'"):
        parse_params({"data": {"path": "x", "target": "y"}, "drift": {"treshold_share": 0.5}})
    with pytest.raises(MlopsError, match="drift reference profile .* not found"):
        DriftReference.load(tmp_path / "nothing")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        compare_parquet(reference, tmp_path / "bad.parquet")
    (tmp_path / "r2").mkdir(); (tmp_path / "r2" / "reference.json").write_text('{"schema": "other"}')
    with pytest.raises(MlopsError, match="not a drift reference profile"):
        DriftReference.load(tmp_path / "r2")
    # a failed save leaves nothing half-written
    target = tmp_path / "r3"
    broken = DriftReference(reference.name, reference.rows, reference.columns, values={"a": "not an array"})
    with pytest.raises(Exception):
        broken.save(target)
    assert not any(p.name.startswith(".") for p in target.iterdir()) and not (target / "reference.json").exists()


# ---------------------------------------------------------------- streaming: bounded error, mergeable
@pytest.fixture(scope="module")
def parquet_batch(data, tmp_path_factory):
    ref, cur, reference = data
    path = tmp_path_factory.mktemp("stream") / "cur.parquet"
    cur.to_parquet(path, row_group_size=1000)
    return path


def test_streaming_matches_exact_within_documented_bounds(data, parquet_batch):
    ref, cur, reference = data
    exact = compare(reference, cur)
    stream = compare_parquet(reference, parquet_batch, DriftParams(mode="streaming", chunk_rows=777))
    assert stream.mode == "streaming" and stream.current["rows"] == len(cur)
    for s, e in zip(stream.columns, exact.columns):
        assert s.test == e.test and s.drifted == e.drifted, s.column
        assert abs(s.statistic - e.statistic) <= s.error_bound + 1e-12, (s.column, s.statistic, e.statistic, s.error_bound)
        assert s.out_of_range == e.out_of_range and s.missing == e.missing and s.new_categories == e.new_categories
        if e.test == "wasserstein":
            assert abs(s.statistic - e.statistic) < 2e-3 and s.error_bound < 0.05   # documented typical accuracy
        if e.kind == "categorical" or e.column in ("few",):
            assert s.statistic == pytest.approx(e.statistic, abs=1e-12) and s.error_bound == 0.0
    assert stream.dataset_drift == exact.dataset_drift


def test_streaming_one_big_row_group_in_small_chunks_gives_exact_decisions(data, tmp_path):
    # the whole file in a single row group, streamed in chunks much smaller than it (the reader must not need
    # the row group at once): same rows, same decisions and missing counts as exact mode
    ref, cur, reference = data
    path = tmp_path / "one_group.parquet"
    cur.to_parquet(path, row_group_size=len(cur))
    exact = compare(reference, cur)
    stream = compare_parquet(reference, path, DriftParams(mode="streaming", chunk_rows=500))
    assert stream.current["rows"] == len(cur)
    assert [(c.column, c.drifted, c.missing) for c in stream.columns] == [(c.column, c.drifted, c.missing) for c in exact.columns]
    assert stream.dataset_drift == exact.dataset_drift


def test_streaming_ks_bound_holds():
    r = np.random.default_rng(9)
    a, b = r.normal(size=20000), r.normal(0.03, 1, 15000)
    ref = build_reference(pd.DataFrame({"v": a}), ["v"], [], DriftParams(bins=200))
    p = DriftParams(bins=200, columns={"v": {"test": "ks"}})
    exact = compare(ref, pd.DataFrame({"v": b}), p).column("v")
    light = ref.without_values()
    stream = compare(light, pd.DataFrame({"v": b}), p).column("v")   # a values-free profile summarizes
    assert stream.error_bound > 0 and exact.statistic == pytest.approx(stats.ks_2samp(a, b).pvalue, abs=EPS)
    assert stream.statistic - stream.error_bound - 1e-12 <= exact.statistic <= stream.statistic + 1e-12


def test_summaries_merge_in_any_order(data):
    ref, cur, reference = data
    light = reference.without_values()
    whole = summarize(light, cur)
    parts = [summarize(light, cur.iloc[i:i + 1300]) for i in range(0, len(cur), 1300)]
    left = parts[0]
    for p in parts[1:]: left = merge_summaries(left, p)
    right = parts[-1]
    for p in reversed(parts[:-1]): right = merge_summaries(p, right)
    for s in (left, right):
        assert s["rows"] == whole["rows"]
        for col, d in whole["columns"].items():
            for k, v in d.items():
                got = s["columns"][col][k]
                if isinstance(v, np.ndarray): assert (got == v).all(), (col, k)
                elif isinstance(v, float): assert got == pytest.approx(v, rel=1e-12), (col, k)
                else: assert got == v, (col, k)


# ---------------------------------------------------------------- Dask: same decisions, local cluster
def test_dask_local_cluster_gives_the_same_decisions(data, parquet_batch):
    dd = pytest.importorskip("dask.dataframe")
    from distributed import Client, LocalCluster
    ref, cur, reference = data
    stream = compare_parquet(reference, parquet_batch, DriftParams(mode="streaming"))
    # processes=False: the scheduler and workers talk in-process (inproc://), no socket is opened
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        assert client.scheduler.address.startswith("inproc://")
        ddf = dd.from_pandas(cur, npartitions=4)
        rep = compare_dask(reference, ddf)
    assert [(c.column, c.test, c.drifted) for c in rep.columns] == [(c.column, c.test, c.drifted) for c in stream.columns]
    for a, b in zip(rep.columns, stream.columns):
        assert a.statistic == pytest.approx(b.statistic, rel=1e-9, abs=1e-12), a.column
    assert rep.prediction.drifted == stream.prediction.drifted and rep.current["rows"] == len(cur)


# ---------------------------------------------------------------- light import; Parquet one column at a time
def test_import_loads_no_scipy_pandas_or_pyarrow():
    "`import mlops_nb.drift` is light: scipy, pandas and pyarrow are imported by the functions that use them."
    code = "import mlops_nb.drift, sys; print(sorted(m for m in ('scipy', 'scipy.stats', 'pandas', 'pyarrow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


@pytest.fixture
def column_reads(monkeypatch):
    "Every Parquet read of the drift engine, as the list of columns it asked for."
    import pyarrow.parquet as pq
    calls, read, batches = [], pq.ParquetFile.read, pq.ParquetFile.iter_batches
    def spy_read(self, columns=None, *a, **k): calls.append(columns); return read(self, columns, *a, **k)
    def spy_batches(self, *a, columns=None, **k): calls.append(columns); return batches(self, *a, columns=columns, **k)
    monkeypatch.setattr(pq.ParquetFile, "read", spy_read)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy_batches)
    return calls


def test_parquet_reference_and_exact_compare_read_one_column_at_a_time(data, tmp_path, column_reads):
    ref, cur, reference = data
    ref.to_parquet(tmp_path / "ref.parquet", row_group_size=1000)
    cur.drop(columns=["bin"]).to_parquet(tmp_path / "cur.parquet", row_group_size=700)
    R = build_reference_parquet(tmp_path / "ref.parquet", NUM, CAT, prediction="score", name="ref")
    assert column_reads and all(c is not None and len(c) == 1 for c in column_reads)   # never the whole frame
    # the same profile and sorted values as from the DataFrame
    want = reference.to_dict(); got = R.to_dict()
    assert {k: v for k, v in got.items() if k != "created"} == {k: v for k, v in want.items() if k != "created"}
    assert R.values.keys() == reference.values.keys() and all((R.values[c] == reference.values[c]).all() for c in R.values)
    # exact mode on the file, one column at a time: the report compare() gives on the whole frame
    column_reads.clear()
    got = compare_parquet(R, tmp_path / "cur.parquet", current_name="b").to_dict()
    assert column_reads and all(len(c) == 1 for c in column_reads)
    want = compare(reference, cur.drop(columns=["bin"]), current_name="b").to_dict()
    for d in (got, want): d.pop("created")
    assert got == want and got["mode"] == "exact" and any(f["kind"] == "missing_column" for f in got["findings"])
    # a streaming profile (no values) from the file: streaming on the file, as before
    light = build_reference_parquet(tmp_path / "ref.parquet", NUM, CAT, DriftParams(mode="streaming"), prediction="score")
    assert light.values is None and compare_parquet(light, tmp_path / "cur.parquet").mode == "streaming"
    with pytest.raises(DataError, match=r"column\(s\) \['nope'\] not found"):
        build_reference_parquet(tmp_path / "ref.parquet", ["a", "nope"], [])
    with pytest.raises(DataError, match="not found"):
        build_reference_parquet(tmp_path / "none.parquet", ["a"], [])
