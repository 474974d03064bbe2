"""Data contract: validation + profiling speed and memory, against plain pandera and a pandas read.

1. Demo data (data/raw/acs_employment_ma.parquet, 277,677 rows x 19 columns), interleaved (floor, peer, ours,
   ours + profile, floor, peer, ...), median of --repeats turns:
   - floor: `pd.read_parquet` of the file;
   - peer:  plain pandera — the contract's `DataFrameSchema` (same checks, plus `unique` on the id) `.validate(df, lazy=True)`
            on the whole frame;
   - ours:  `contract.validate` (type conversion, pandera checks, uniqueness, null shares, quarantine split) and
            `data_profile.profile` of the result — what the prepare stage runs.
2. Scaling: generated Parquet files of 250k, 1M and 5M rows x 50 columns (30 float, 14 categorical, 5 int, 1 id),
   validated by `contract.validate_file` (streamed by 250k-row batches) in a fresh process each, reporting time,
   rows/s and peak RSS; the floor is reading the same file batch by batch (pyarrow -> pandas) in a fresh process.
   Floor and ours run in turns (floor, ours, floor, ours, ...), medians of --repeats turns. Peak RSS is the child's own
   VmHWM (/proc/self/status): its ru_maxrss would start at this parent's RSS at fork time.
The 1-minute load average is sampled at every turn. Results go to bench/RESULTS.md between the `<!-- contract -->` markers.

    .venv/bin/python bench/contract_bench.py [--sizes 250000 1000000 5000000] [--repeats 3] [--no-write]
"""
from __future__ import annotations
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_nb import contract as C, data_profile
from results import write_section  # bench/results.py

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data/raw/acs_employment_ma.parquet"
BEGIN, END = "<!-- contract -->", "<!-- /contract -->"


LOADS: list[float] = []  # 1-minute load average, sampled at every turn


def timed(fn) -> float:
    LOADS.append(os.getloadavg()[0])
    t = time.perf_counter(); fn(); return time.perf_counter() - t


def demo_bench(repeats: int = 3) -> dict:
    import pandera.pandas as pa_
    df = pd.read_parquet(DEMO)
    con = C.infer_contract(df, "employed", ["id"], "year")
    schema = C.pandera_schema(con)
    peer_schema = pa_.DataFrameSchema({n: pa_.Column(c.dtype, checks=c.checks, nullable=c.nullable, unique=(n == "id"))
                                       for n, c in schema.columns.items()}, strict=True)
    def ours():
        r = C.validate(df, con, "demo")
        data_profile.profile(r.valid, "employed", ["SEX", "RAC1P"], hide=["id"])
    cases = {"floor": lambda: pd.read_parquet(DEMO), "peer": lambda: peer_schema.validate(df, lazy=True),
             "validate": lambda: C.validate(df, con, "demo"), "ours": ours}
    times = {k: [] for k in cases}
    for _ in range(repeats):  # interleaved: floor, peer, ours, ours + profile, floor, ...
        for k, fn in cases.items(): times[k].append(timed(fn))
    return {"rows": len(df), "cols": df.shape[1], "repeats": repeats, **{k: statistics.median(v) for k, v in times.items()}}


def make_file(path: Path, n: int, seed: int = 0, chunk: int = 500_000) -> None:
    "n rows x 50 columns written chunk by chunk (bounded memory)."
    rng = np.random.default_rng(seed)
    cats = np.array([f"c{i}" for i in range(10)], dtype=object)
    writer = None
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        cols = {"id": np.arange(start, start + m)}
        for i in range(30): cols[f"x{i}"] = rng.normal(0, 1, m).round(4)
        for i in range(14): cols[f"k{i}"] = cats[rng.integers(0, 10, m)]
        for i in range(5): cols[f"n{i}"] = rng.integers(0, 1000, m)
        t = pa.table(cols)
        if writer is None: writer = pq.ParquetWriter(path, t.schema)
        writer.write_table(t, row_group_size=250_000)
    writer.close()


CHILD = r"""
import json, sys, time
from mlops_nb import contract as C
mode, path, con_path = sys.argv[1:4]
t = time.perf_counter()
if mode == "ours":
    r = C.validate_file(path, C.load_contract(con_path), raise_errors=False)
    n, ok = r.n_rows, r.ok
else:
    import pyarrow.parquet as pq
    n = sum(len(b.to_pandas()) for b in pq.ParquetFile(path).iter_batches(batch_size=250_000)); ok = True
seconds = time.perf_counter() - t
# this process's own peak RSS; ru_maxrss would start at the parent's RSS at fork time
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "rows": n, "ok": ok, "rss_mb": hwm / 1024}))
"""


def child(mode: str, path: Path, con_path: Path) -> dict:
    LOADS.append(os.getloadavg()[0])
    r = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(con_path)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def scale_bench(sizes, tmp: Path, repeats: int = 3) -> list[dict]:
    out = []
    for n in sizes:
        path = tmp / f"gen_{n}.parquet"
        make_file(path, n)
        con_path = tmp / "contract.yaml"
        if not con_path.exists():  # the contract of the first (smallest) file: the others come from the same distribution
            sample = pq.ParquetFile(path).read_row_group(0).to_pandas()
            con = C.infer_contract(sample, ids=["id"])
            rules = tuple(C.ColumnRule(**{**r.__dict__, "min": -100.0, "max": 100.0}) if r.type == "float64" else r
                          for r in con.columns)
            C.save_contract(C.Contract(rules, None, "generated", len(sample)), con_path)
        fl, ou = [], []
        for _ in range(repeats):  # interleaved: floor, ours, floor, ours, ...
            fl.append(child("floor", path, con_path)); ou.append(child("ours", path, con_path))
            assert ou[-1]["ok"] and ou[-1]["rows"] == n, ou[-1]
        med = lambda runs: {k: statistics.median(r[k] for r in runs) for k in ("seconds", "rss_mb")}
        floor, ours = med(fl), med(ou)
        out.append({"rows": n, "file_mb": path.stat().st_size / 2**20, "floor": floor, "ours": ours})
        print(f"{n:>9,} rows: ours {ours['seconds']:.1f} s, {ours['rss_mb']:.0f} MB; read floor {floor['seconds']:.1f} s", flush=True)
        path.unlink()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[250_000, 1_000_000, 5_000_000])
    ap.add_argument("--repeats", type=int, default=3, help="interleaved turns of each measurement")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    d = demo_bench(a.repeats)
    print(json.dumps(d, indent=1), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        s = scale_bench(a.sizes, Path(tmp), a.repeats)
    lines = [BEGIN, "## Data contract: validation and profile (`bench/contract_bench.py`)", "",
             f"{date.today()}, {platform.python_version()}, {os.cpu_count()} cores, pandas {pd.__version__}, "
             f"pandera {__import__('pandera').__version__}; total bench time {time.perf_counter() - t0:.0f} s; 1-minute load average "
             f"{load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, median {statistics.median(LOADS):.1f} "
             f"(max {max(LOADS):.1f}) over the turns.", "",
             f"Demo data ({d['rows']:,} rows x {d['cols']} columns), interleaved (floor, peer, ours, ours + profile, floor, ...), "
             f"median of {d['repeats']} turns:", "",
             "| what | seconds | vs pandas read |", "|---|---:|---:|",
             f"| floor: `pd.read_parquet` | {d['floor']:.3f} | 1.0 |",
             f"| peer: plain pandera `DataFrameSchema.validate(lazy=True)`, same checks + unique id | {d['peer']:.3f} | {d['peer'] / d['floor']:.1f} |",
             f"| ours: `contract.validate` (types, checks, uniqueness, null shares, quarantine split) | {d['validate']:.3f} | {d['validate'] / d['floor']:.1f} |",
             f"| ours: `contract.validate` + `data_profile.profile` (the prepare stage's work) | {d['ours']:.3f} | {d['ours'] / d['floor']:.1f} |", "",
             f"Ours / plain pandera: {d['validate'] / d['peer']:.2f}x for validation. Target: validation + profile of the demo <= 3 s: "
             f"**{'met' if d['ours'] <= 3 else 'NOT met'}**.", "",
             "Streaming (`contract.validate_file`, Parquet in 250k-row batches, fresh process each; 50 columns: 30 float with a range, "
             "14 categorical with 10 allowed values, 5 int, 1 unique id). Floor = reading the same batches into pandas, in a fresh "
             f"process too. Interleaved (floor, ours, floor, ours, ...), medians of {a.repeats} turns; peak RSS is each child's "
             "own VmHWM (/proc/self/status), imports included:", "",
             "| rows | file MB | ours s | ours rows/s | ours peak RSS MB | floor s | floor peak RSS MB | ours / floor |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in s:
        o, f = r["ours"], r["floor"]
        lines.append(f"| {r['rows']:,} | {r['file_mb']:.0f} | {o['seconds']:.1f} | {r['rows'] / o['seconds']:,.0f} | {o['rss_mb']:.0f} | "
                     f"{f['seconds']:.1f} | {f['rss_mb']:.0f} | {o['seconds'] / f['seconds']:.1f} |")  # ratio of the medians
    if len(s) > 1:
        lo, b = s[-2], s[-1]
        marginal = (b["rows"] - lo["rows"]) / max(1e-9, b["ours"]["seconds"] - lo["ours"]["seconds"])
        lines += ["", f"Scaling: from {lo['rows']:,} to {b['rows']:,} rows the time grows by "
                      f"{b['ours']['seconds'] - lo['ours']['seconds']:.1f} s, i.e. {marginal:,.0f} rows/s at the margin. Times are taken "
                      f"inside each child after `import mlops_nb.contract` (process start not included; imports on first use, "
                      f"such as pandera's, are). "
                      f"Target: 5 M x 50 validated within 2 GB peak RSS: "
                      f"**{'met' if b['rows'] >= 5_000_000 and b['ours']['rss_mb'] <= 2048 else 'not measured' if b['rows'] < 5_000_000 else 'NOT met'}**."]
    lines.append(END)
    text = "\n".join(lines) + "\n"
    print(text)
    if not a.no_write: write_section(text, BEGIN, END)


if __name__ == "__main__":
    main()
