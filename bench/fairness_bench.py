"""Fairness metrics: mlops_nb.fairness against fairlearn's MetricFrame, the reference.

For 100k and 1M rows in 5 groups of unequal size, time
  - peer:  fairlearn MetricFrame with count, selection_rate, true/false positive rate, accuracy, precision
  - ours:  group_counts + group_metrics (the same six numbers per group)
  - ours:  the whole fairness_report with 200 bootstrap resamples (intervals for every number)
interleaved (MetricFrame, ours, report, MetricFrame, ours, report, ...), and report the median of 5 turns
(at 1M rows: 3), the 1-minute load average sampled at every turn, the peak memory traced by tracemalloc in a
separate run (all in this process: no child), and the largest absolute difference between our numbers and fairlearn's. The table is
written to bench/RESULTS.md between the `<!-- fairness -->` markers; the rest of the file is kept.

    .venv/bin/python bench/fairness_bench.py [--sizes 100000 1000000] [--repeats 5] [--no-write]
"""
from __future__ import annotations
import argparse, os, platform, statistics, sys, time, tracemalloc, warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import fairlearn, sklearn
from fairlearn.metrics import MetricFrame, count, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import accuracy_score, precision_score

from mlops_nb.fairness import fairness_report, group_counts, group_metrics

from results import write_section  # bench/results.py

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- fairness -->", "<!-- /fairness -->"
COLS = ["count", "selection_rate", "tpr", "fpr", "accuracy", "precision"]
GROUPS = np.array(["group A", "group B", "group C", "group D", "group E"], dtype=object)


def make_data(n: int, seed: int = 0):
    "Binary labels and predictions with group-dependent rates; 5 groups of 40/25/20/10/5 % of the rows."
    rng = np.random.default_rng(seed)
    gi = rng.choice(5, n, p=[.40, .25, .20, .10, .05])
    yt = rng.binomial(1, np.array([.45, .40, .35, .50, .30])[gi])
    yp = rng.binomial(1, np.where(yt == 1, np.array([.80, .70, .75, .60, .85])[gi], np.array([.15, .10, .20, .12, .08])[gi]))
    return yt, yp, GROUPS[gi]


def peer(yt, yp, g):
    mf = MetricFrame(metrics={"count": count, "selection_rate": selection_rate, "tpr": true_positive_rate,
                              "fpr": false_positive_rate, "accuracy": accuracy_score, "precision": precision_score},
                     y_true=yt, y_pred=yp, sensitive_features=g)
    return mf


def ours(yt, yp, g):
    return group_metrics(group_counts(yt, yp, g))


def report(yt, yp, g):
    return fairness_report(yt, yp, g.to_frame(), n_boot=200, seed=0)


LOADS: list[float] = []  # 1-minute load average, sampled at every timed call


def timed(fn) -> tuple[float, object]:
    "Wall time of one call, and its result."
    LOADS.append(os.getloadavg()[0])
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def peak_memory(fn) -> int:
    "Peak bytes allocated (tracemalloc) during one call."
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def agreement(mf: MetricFrame, table: pd.DataFrame, rep) -> tuple[float, float]:
    "Max |ours − fairlearn| over the group table, and over the three disparities."
    ref = mf.by_group
    assert sorted(ref.index) == sorted(table.index), (list(ref.index), list(table.index))
    d_groups = float(np.abs(table.reindex(ref.index)[COLS].to_numpy(float) - ref[COLS].to_numpy(float)).max())
    diff, ratio = mf.difference(), mf.ratio()
    fl = {"demographic_parity_difference": diff["selection_rate"],
          "equalized_odds_difference": max(diff["tpr"], diff["fpr"]),  # fairlearn's agg="worst_case"
          "selection_rate_ratio": ratio["selection_rate"]}
    summ = rep.features["group"].summary
    assert not rep.features["group"].excluded
    d_summ = max(abs(summ[k]["value"] - v) for k, v in fl.items())
    return d_groups, d_summ


def fmt_s(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def fmt_mb(b: int) -> str:
    return f"{b / 2**20:.1f} MB" if b >= 2**20 else f"{b / 2**10:.0f} KB"


def run(n: int, repeats: int = 5) -> dict:
    yt, yp, g = make_data(n)
    g = pd.Series(g, name="group")  # the sensitive column as a user has it: a DataFrame column (made once, untimed)
    peer_reps = repeats if n <= 200_000 else min(repeats, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours(yt[:1000], yp[:1000], g[:1000]); report(yt[:1000], yp[:1000], g[:1000])  # warm imports
        peer(yt[:1000], yp[:1000], g[:1000])
        tp, to, tr = [], [], []
        for i in range(peer_reps):  # interleaved: peer, ours, report, peer, ours, report, ...
            t, mf = timed(lambda: peer(yt, yp, g)); tp.append(t)
            t, table = timed(lambda: ours(yt, yp, g)); to.append(t)
            t, rep = timed(lambda: report(yt, yp, g)); tr.append(t)
            print(f"  {n:,} rows, turn {i + 1}: MetricFrame {fmt_s(tp[-1])}, group_counts+group_metrics {fmt_s(to[-1])}, "
                  f"fairness_report {fmt_s(tr[-1])} (load {LOADS[-1]:.1f})", flush=True)
        t_peer, t_ours, t_rep = statistics.median(tp), statistics.median(to), statistics.median(tr)
        d_groups, d_summ = agreement(mf, table, rep)
        m_ours, m_rep = peak_memory(lambda: ours(yt, yp, g)), peak_memory(lambda: report(yt, yp, g))
        m_peer = peak_memory(lambda: peer(yt, yp, g))
    r = dict(n=n, peer_reps=peer_reps, t_peer=t_peer, t_ours=t_ours, t_rep=t_rep, m_peer=m_peer, m_ours=m_ours,
             m_rep=m_rep, d_groups=d_groups, d_summ=d_summ)
    print(f"  {n:,} rows: speed-up {t_peer / t_ours:,.0f}× (report {t_peer / t_rep:,.0f}×), "
          f"memory {fmt_mb(m_peer)} / {fmt_mb(m_ours)} / {fmt_mb(m_rep)}, max abs diff {d_groups:.1e} / {d_summ:.1e}", flush=True)
    return r


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"): return line.split(":", 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


def section(rows: list[dict], load_start: float) -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [BEGIN, "## Fairness metrics: mlops_nb.fairness vs fairlearn MetricFrame", "",
             f"`bench/fairness_bench.py`, {date.today().isoformat()}: {cores} cores ({cpu_name()}), Python "
             f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, fairlearn "
             f"{fairlearn.__version__}, scikit-learn {sklearn.__version__}; 1-minute load average {load_start:.1f} at the "
             f"start, {os.getloadavg()[0]:.1f} at the end, median {statistics.median(LOADS):.1f} (max {max(LOADS):.1f}) "
             "over the timed calls.", "",
             "Binary labels and predictions, 5 groups (40/25/20/10/5 % of the rows, string labels). Peer: fairlearn "
             "`MetricFrame` with count, selection_rate, true_positive_rate, false_positive_rate, accuracy_score, "
             "precision_score. Ours: `group_counts` + `group_metrics` (the same six numbers per group), and the whole "
             "`fairness_report` (three disparities, min/max of every metric, 200 bootstrap resamples giving a 95 % "
             "interval for every number). Interleaved: MetricFrame, ours, report, MetricFrame, ours, report, ...; times "
             f"are medians of {rows[0]['peer_reps']} turns" + (f" ({rows[-1]['peer_reps']} at {rows[-1]['n']:,} rows)"
             if rows[-1]['peer_reps'] != rows[0]['peer_reps'] else "") + "; memory is "
             "the peak traced by `tracemalloc` in a separate run. 'max abs diff' compares our group table with "
             "`MetricFrame.by_group`, and our disparities with `MetricFrame.difference()` / `.ratio()` "
             "(what `demographic_parity_difference`, `equalized_odds_difference` and `demographic_parity_ratio` return).", "",
             "| rows × groups | fairlearn MetricFrame | group_counts + group_metrics | speed-up | fairness_report (200 resamples) "
             "| speed-up vs MetricFrame | peak memory: MetricFrame / counts / report | max abs diff: groups / disparities |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']:,} × 5 | {fmt_s(r['t_peer'])} | {fmt_s(r['t_ours'])} | **{r['t_peer'] / r['t_ours']:,.0f}×** "
                     f"| {fmt_s(r['t_rep'])} | **{r['t_peer'] / r['t_rep']:,.0f}×** "
                     f"| {fmt_mb(r['m_peer'])} / {fmt_mb(r['m_ours'])} / {fmt_mb(r['m_rep'])} "
                     f"| {r['d_groups']:.1e} / {r['d_summ']:.1e} |")
    ok = all(r["t_peer"] / r["t_ours"] >= 100 and r["d_groups"] <= 1e-12 and r["d_summ"] <= 1e-12 for r in rows)
    lines += ["", f"Goal: ≥ 100× faster than MetricFrame with identical numbers: **{'met' if ok else 'NOT met'}**. "
              "Ours is one `pd.factorize` and one `np.bincount` over the rows, then arithmetic on a 5 × 4 table. The bootstrap draws the "
              "(group × confusion cell) counts from a multinomial, which has the distribution of a row bootstrap; "
              "fairlearn's own bootstrap (`MetricFrame(n_boot=...)`) was not timed.", END]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=5, help="interleaved turns (at most 3 above 200k rows)")
    ap.add_argument("--no-write", action="store_true", help="print the table, do not touch bench/RESULTS.md")
    a = ap.parse_args(argv)
    load_start = os.getloadavg()[0]
    rows = [run(n, a.repeats) for n in a.sizes]
    text = section(rows, load_start)
    print(text)
    if not a.no_write:
        write_section(text, BEGIN, END)
        print(f"wrote the fairness section of {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
