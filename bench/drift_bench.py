"""Drift benchmark: mlops_nb.drift against Evidently 0.7.23's DataDriftPreset on the same data.

Data: 40 numeric + 10 categorical columns (a quarter of them shifted in the current batch: 10 numeric
columns moved by 0.05–0.5 std, 3 categorical columns re-weighted), a reference and a current batch of N
rows each, written to Parquet in a temporary folder so both engines read the same bytes.

- Peer: Evidently 0.7.23 does not import with pandas 3, so it runs in its own virtual environment
  (bench/.venv-evidently, pandas < 3; created here on first use) in a subprocess; it reports its compute time
  (Report.run + snapshot.dict(), data already loaded) and its peak RSS: VmHWM of /proc/self/status. Not ru_maxrss:
  on Linux a child's ru_maxrss starts at its parent's RSS at fork time (this script holds the generated frames),
  which showed our 1 M-row run at 960 MB and the 10 M streaming run at 1.4 GB instead of ~0.7 GB.
- Ours: in a subprocess too, the same way: build_reference_parquet + compare_parquet (exact mode), both reading the
  Parquet files one column at a time (reading included in our times, not in Evidently's); the compare-only time
  (the profile is built once and reused in production) is shown as well.
- Interleaved: for each size the two engines run in turns (peer, ours, peer, ours, …), --peer-repeats pairs, so the
  load of a shared machine hits both alike; medians of the turns, the load average before each turn is recorded.
- Decisions: per column drifted / not drifted, ours vs Evidently's; every disagreement listed with both statistics.
- Streaming: a 10 M × 50 Parquet file written in chunks of 1 M rows into /tmp (two distinct generated chunks,
  alternating, to keep generation time down), scored with compare_parquet (drift.mode streaming) against a streaming
  profile of the 1 M reference (build_reference_parquet): wall time and peak RSS, once (the file is deleted afterwards).

    .venv/bin/python bench/drift_bench.py [--sizes 100000,1000000] [--peer-repeats 3,3] [--stream-rows 10000000] [--no-write]

Results go to bench/RESULTS.md between the `<!-- drift -->` markers. About 15–20 minutes on 2 cores (Evidently:
~150 s and ~4.5 GB per run at 1 M rows).
"""
import argparse, json, os, platform, shutil, statistics, subprocess, sys, tempfile, textwrap, time
from datetime import date
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
from results import write_section  # bench/results.py

BEGIN, END = "<!-- drift -->", "<!-- /drift -->"
PEER_VENV = BENCH / ".venv-evidently"
PEER_PY = PEER_VENV / "bin" / "python"
OURS_PY = Path(sys.executable)
SPEED_GOAL, MEMORY_GOAL, AGREE_GOAL, STREAM_MEMORY_GOAL = 30.0, 1 / 4, 0.98, 1024**3
NUM = [f"num_{i:02d}" for i in range(40)]
CAT = [f"cat_{i}" for i in range(10)]

GENERATE = textwrap.dedent('''
    import numpy as np, pandas as pd, pyarrow as pa
    NUM = [f"num_{i:02d}" for i in range(40)]; CAT = [f"cat_{i}" for i in range(10)]
    LEVELS = pa.array([f"level_{j}" for j in range(12)])
    def frame(n, seed, current):
        "40 numeric + 10 categorical columns; in the current batch num_00..09 and cat_0..2 are shifted."
        r = np.random.default_rng(seed)
        d = {}
        for i, c in enumerate(NUM):
            shift = 0.05 * (i + 1) if current and i < 10 else 0.0
            kind = i % 4
            if kind == 0: x = r.normal(shift, 1, n)
            elif kind == 1: x = r.lognormal(shift, 0.5, n)
            elif kind == 2: x = np.round(r.normal(40 + 10 * shift, 10, n))          # integer-valued, tied
            else: x = r.exponential(1 + shift, n)
            if i % 10 == 9: x[r.random(n) < 0.02] = np.nan                           # some missing values
            d[c] = x
        base = np.linspace(2, 1, 12); base /= base.sum()
        for i, c in enumerate(CAT):
            p = base if not (current and i < 3) else np.r_[base[:6] * 0.7, base[6:] * 1.3] / (0.7 * base[:6].sum() + 1.3 * base[6:].sum())
            d[c] = LEVELS.take(pa.array(r.choice(12, n, p=p))).to_pandas()   # strings, built in Arrow (fast)
        return pd.DataFrame(d)
''')
exec(GENERATE)  # frame(), in this process too


OURS = textwrap.dedent('''
    import json, resource, sys, time
    from mlops_nb.drift import compare_parquet
    from mlops_nb.drift_reference import build_reference_parquet
    import pandas, pyarrow.parquet, scipy.stats, scipy.spatial.distance  # what the engine imports on use: not timed (nor are Evidently's imports)
    ref_path, cur_path = sys.argv[1], sys.argv[2]
    NUM = [f"num_{i:02d}" for i in range(40)]; CAT = [f"cat_{i}" for i in range(10)]
    # the profile is built from the reference file and the batch is scored against the profile, both read one column
    # at a time: neither is ever a whole DataFrame, and the raw reference is never needed with the batch (reading included)
    t0 = time.perf_counter(); R = build_reference_parquet(ref_path, NUM, CAT); t1 = time.perf_counter()
    rep = compare_parquet(R, cur_path); t2 = time.perf_counter()
    assert rep.mode == "exact"
    cols = {c.column: {"drifted": c.drifted, "test": c.test, "statistic": c.statistic} for c in rep.columns}
    print(json.dumps({"seconds": t2 - t0, "compare_seconds": t2 - t1, "profile_seconds": t1 - t0,
                      "rss_mb": next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024, "columns": cols}))
''')

PEER = textwrap.dedent('''
    import json, resource, sys, time, warnings
    warnings.filterwarnings("ignore")
    import pandas as pd
    from evidently import Report, Dataset, DataDefinition
    from evidently.presets import DataDriftPreset
    ref_path, cur_path = sys.argv[1], sys.argv[2]
    NUM = [f"num_{i:02d}" for i in range(40)]; CAT = [f"cat_{i}" for i in range(10)]
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    t0 = time.perf_counter()
    dd = DataDefinition(numerical_columns=NUM, categorical_columns=CAT)
    snap = Report([DataDriftPreset()]).run(Dataset.from_pandas(cur, data_definition=dd), Dataset.from_pandas(ref, data_definition=dd))
    out = snap.dict()
    seconds = time.perf_counter() - t0
    cols = {}
    for m in out["metrics"]:
        cfg = m["config"]
        if cfg.get("type", "").endswith("ValueDrift"):
            pval = "p_value" in cfg["method"]
            v = m["value"]
            cols[cfg["column"]] = {"method": cfg["method"], "statistic": v, "threshold": cfg["threshold"],
                                   "drifted": bool(v < cfg["threshold"]) if pval else bool(v >= cfg["threshold"])}
    print(json.dumps({"seconds": seconds, "rss_mb": next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024, "columns": cols}))
''')

STREAM = textwrap.dedent('''
    import json, resource, sys, time
    from mlops_nb.config import DriftParams
    from mlops_nb.drift import compare_parquet
    from mlops_nb.drift_reference import DriftReference
    t0 = time.perf_counter()
    ref = DriftReference.load(sys.argv[1])
    rep = compare_parquet(ref, sys.argv[2], DriftParams(mode="streaming", chunk_rows=int(sys.argv[3])))
    print(json.dumps({"seconds": time.perf_counter() - t0, "rows": rep.current["rows"], "n_drifted": rep.n_drifted,
                      "n_columns": rep.n_columns, "max_error_bound": max(c.error_bound for c in rep.columns),
                      "rss_mb": next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024}))
''')


def child(py: Path, code: str, *args, timeout=1800) -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    r = subprocess.run([str(py), "-c", code, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(f"{py} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def ensure_peer():
    if PEER_PY.exists() and subprocess.run([str(PEER_PY), "-c", "import evidently, pyarrow"], capture_output=True).returncode == 0:
        return
    print("creating", PEER_VENV, "(evidently==0.7.23, pandas<3) …", flush=True)
    subprocess.run(["python3", "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(PEER_PY), "-m", "pip", "install", "-q", "evidently==0.7.23", "pandas<3", "pyarrow"], check=True)


def write_parquet_chunks(path: Path, rows: int, chunk: int = 1_000_000, seed: int = 100, distinct: int = 2):
    "A current batch of `rows` rows written chunk by chunk (memory bounded by one chunk; `distinct` different chunks, cycled)."
    import pyarrow as pa, pyarrow.parquet as pq
    writer, pool = None, {}
    try:
        for i, start in enumerate(range(0, rows, chunk)):
            k = min(chunk, rows - start)
            if (i % distinct, k) not in pool:
                pool[(i % distinct, k)] = pa.Table.from_pandas(frame(k, seed + i % distinct, True), preserve_index=False)
            t = pool[(i % distinct, k)]
            writer = writer or pq.ParquetWriter(path, t.schema)
            writer.write_table(t, row_group_size=262144)
    finally:
        if writer: writer.close()


def load() -> float: return os.getloadavg()[0]


def stream_result(tmp: Path, big: int, a) -> dict | None:
    "Streaming run (once) against the streaming profile in tmp/profile: a --stream-rows file written, scored, deleted."
    if not a.stream_rows: return None
    sp = tmp / "stream.parquet"
    t = time.perf_counter(); write_parquet_chunks(sp, a.stream_rows); gen_s = time.perf_counter() - t
    print(f"streaming: {a.stream_rows:,} rows generated in {gen_s:.0f} s ({sp.stat().st_size / 1e9:.1f} GB) …", flush=True)
    load_before = load()
    stream = child(OURS_PY, STREAM, tmp / "profile", sp, a.chunk_rows)
    stream.update(size_gb=sp.stat().st_size / 1e9, load=load_before, big=big, chunk_rows=a.chunk_rows, date=date.today().isoformat())
    print(f"  {stream['seconds']:.1f} s, {stream['rss_mb']:.0f} MB peak", flush=True)
    sp.unlink()
    return stream


def stream_lines(s: dict) -> list:
    return ["", f"Streaming (`compare_parquet`, `drift.mode: streaming`, chunks of {s['chunk_rows']:,} rows), run once ({s['date']}): "
            f"{s['rows']:,} rows × 50 columns from a {s['size_gb']:.1f} GB Parquet file (two distinct 1 M-row chunks, alternating) against a streaming profile "
            f"of the {s['big']:,}-row reference (built by `build_reference_parquet`) in **{s['seconds']:.0f} s** (load {s['load']:.1f} before it), peak RSS **{s['rss_mb']:.0f} MB** "
            f"(goal ≤ 1024 MB: {'met' if s['rss_mb'] * 1024**2 <= STREAM_MEMORY_GOAL else 'NOT met'}); "
            f"{s['n_drifted']} of {s['n_columns']} columns drifted; largest error bound of a statistic {s['max_error_bound']:.3g}."]


def stream_only(a):
    "Re-measure the streaming run alone and replace its paragraph in the drift section of RESULTS.md."
    from results import RESULTS
    from mlops_nb.config import DriftParams
    from mlops_nb.drift_reference import build_reference_parquet
    big = max(int(s) for s in a.sizes.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="drift_bench_", dir="/tmp"))
    try:
        frame(big, 1, False).to_parquet(tmp / "ref.parquet")
        build_reference_parquet(tmp / "ref.parquet", NUM, CAT, DriftParams(mode="streaming"), name=f"reference {big:,}").save(tmp / "profile")
        (tmp / "ref.parquet").unlink()
        stream = stream_result(tmp, big, a)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    old = RESULTS.read_text().split(BEGIN, 1)[1].split(END, 1)[0]
    head = old.split("\nStreaming (`compare_parquet`", 1)[0].rstrip("\n")
    text = "\n".join([BEGIN + head] + stream_lines(stream) + [END])
    print(text)
    if not a.no_write: write_section(text, BEGIN, END)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--peer-repeats", default="3,3", help="turns (peer, ours) per size; Evidently takes ~150 s at 1 M rows")
    ap.add_argument("--stream-rows", type=int, default=10_000_000)
    ap.add_argument("--chunk-rows", type=int, default=262144)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--stream-only", action="store_true", help="re-measure only the streaming run and replace its paragraph")
    a = ap.parse_args()
    if a.stream_only: return stream_only(a)
    sizes = [int(s) for s in a.sizes.split(",")]
    peer_repeats = [int(s) for s in a.peer_repeats.split(",")] + [1] * len(sizes)
    ensure_peer()
    peer_version = subprocess.run([str(PEER_PY), "-c", "import evidently, pandas; print(evidently.__version__, pandas.__version__)"],
                                  capture_output=True, text=True).stdout.split()
    tmp = Path(tempfile.mkdtemp(prefix="drift_bench_", dir="/tmp"))
    rows, notes, loads = [], [], [load()]
    try:
        for n, pr in zip(sizes, peer_repeats):
            ref_p, cur_p = tmp / f"ref_{n}.parquet", tmp / f"cur_{n}.parquet"
            frame(n, 1, False).to_parquet(ref_p); frame(n, 2, True).to_parquet(cur_p)
            peers, ours_runs = [], []
            for turn in range(pr):
                loads.append(load())
                peers.append(child(PEER_PY, PEER, ref_p, cur_p))
                print(f"{n:,} rows, turn {turn + 1}/{pr} (load {loads[-1]:.1f}): Evidently {peers[-1]['seconds']:.1f} s, "
                      f"{peers[-1]['rss_mb']:.0f} MB", flush=True)
                loads.append(load())
                ours_runs.append(child(OURS_PY, OURS, ref_p, cur_p))
                print(f"  (load {loads[-1]:.1f}) ours {ours_runs[-1]['seconds']:.2f} s (compare {ours_runs[-1]['compare_seconds']:.2f} s), "
                      f"{ours_runs[-1]['rss_mb']:.0f} MB", flush=True)
            med = lambda runs, k: statistics.median(r[k] for r in runs)
            ours = {"seconds": med(ours_runs, "seconds"), "compare_seconds": med(ours_runs, "compare_seconds"),
                    "rss_mb": med(ours_runs, "rss_mb"), "rss_max_mb": max(r["rss_mb"] for r in ours_runs),
                    "all": [round(r["seconds"], 2) for r in ours_runs], "columns": ours_runs[0]["columns"]}
            peer_s, peer_mb = med(peers, "seconds"), med(peers, "rss_mb")
            pc = peers[0]["columns"]
            agree = [c for c in NUM + CAT if pc[c]["drifted"] == ours["columns"][c]["drifted"]]
            disagree = [c for c in NUM + CAT if c not in agree]
            print(f"  medians: Evidently {peer_s:.1f} s, {peer_mb:.0f} MB; ours {ours['seconds']:.2f} s, {ours['rss_mb']:.0f} MB; "
                  f"same decision on {len(agree)}/50", flush=True)
            for c in disagree:
                notes.append(f"{n:,} rows, `{c}`: Evidently {pc[c]['method']} = {pc[c]['statistic']:.6g} "
                             f"({'drift' if pc[c]['drifted'] else 'no drift'}); ours {ours['columns'][c]['test']} = "
                             f"{ours['columns'][c]['statistic']:.6g} ({'drift' if ours['columns'][c]['drifted'] else 'no drift'})")
            stat_diff = max(abs(pc[c]["statistic"] - ours["columns"][c]["statistic"]) for c in NUM + CAT)
            rows.append(dict(n=n, ours=ours, peer_s=peer_s, peer_mb=peer_mb, pr=pr, agree=len(agree), stat_diff=stat_diff,
                             peer_all=[round(p["seconds"], 1) for p in peers], peer_mb_all=[round(p["rss_mb"]) for p in peers],
                             ours_mb_all=[round(r["rss_mb"]) for r in ours_runs],
                             peer_drifted=sum(pc[c]["drifted"] for c in pc), ours_drifted=sum(v["drifted"] for v in ours["columns"].values())))
            if n != max(sizes): ref_p.unlink(); cur_p.unlink()
        # streaming: 10 M rows from Parquet against a streaming profile of the largest reference
        big = max(sizes)
        from mlops_nb.config import DriftParams
        from mlops_nb.drift_reference import build_reference_parquet
        build_reference_parquet(tmp / f"ref_{big}.parquet", NUM, CAT, DriftParams(mode="streaming"),
                                name=f"reference {big:,}").save(tmp / "profile")
        (tmp / f"ref_{big}.parquet").unlink(); (tmp / f"cur_{big}.parquet").unlink()
        stream = stream_result(tmp, big, a)
        if stream: loads.append(stream["load"])
        loads.append(load())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [BEGIN, "## Drift engine vs Evidently (bench/drift_bench.py)", "",
             f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores (shared with other jobs; 1-minute load "
             f"average {min(loads):.1f}–{max(loads):.1f} during the run, {loads[0]:.1f} at the start, {loads[-1]:.1f} at the end), "
             f"Python {platform.python_version()}. Peer: Evidently {peer_version[0]} DataDriftPreset (pandas {peer_version[1]}, "
             f"its own venv, a subprocess). Same generated data for both (Parquet): 40 numeric + 10 categorical columns, "
             f"reference and current batch of N rows each; 13 of 50 columns shifted (10 numeric by 0.05–0.5 std, 3 categorical "
             f"re-weighted). **Interleaved**: per size, Evidently and ours ran in turns (peer, ours, peer, ours, …); the table "
             f"gives medians of the turns (each run listed). Memory is each process's peak RSS (VmHWM of /proc/self/status; data and imported "
             f"libraries included; not ru_maxrss, which on Linux starts a child at its parent's RSS and showed this script's "
             f"generated frames instead of ours). Library imports are not timed for either. Evidently: `Report.run` + `snapshot.dict()` on DataFrames already loaded (reading not timed). Ours: "
             f"`build_reference_parquet` (the profile) + `compare_parquet` in exact mode, both reading the files one column at a "
             f"time (reading **included**); neither the reference nor the batch is ever a whole DataFrame.", "",
             "| rows (each side) | Evidently s (runs) | ours s: profile + compare (runs) | ours s: compare only | speed-up | Evidently peak MB (runs) | ours peak MB (runs) | memory ratio | same decision | columns drifted (Evidently / ours) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    ok = True
    for r in rows:
        sp, mem = r["peer_s"] / r["ours"]["seconds"], r["ours"]["rss_mb"] / r["peer_mb"]
        ok &= sp >= SPEED_GOAL and mem <= MEMORY_GOAL and r["agree"] / 50 >= AGREE_GOAL
        lines.append(f"| {r['n']:,} | {r['peer_s']:.1f} ({', '.join(map(str, r['peer_all']))}) | {r['ours']['seconds']:.2f} "
                     f"({', '.join(map(str, r['ours']['all']))}) | {r['ours']['compare_seconds']:.2f} | **{sp:.0f}×** | "
                     f"{r['peer_mb']:.0f} ({', '.join(map(str, r['peer_mb_all']))}) | {r['ours']['rss_mb']:.0f} "
                     f"({', '.join(map(str, r['ours_mb_all']))}) | **{mem:.2f}** | {r['agree']}/50 | {r['peer_drifted']} / {r['ours_drifted']} |")
    lines += ["", f"Goals: ≥ {SPEED_GOAL:.0f}× faster, ≤ 1/4 of Evidently's peak memory, the same decision on ≥ 98% of columns: "
              f"{'met' if ok else 'NOT met at every size (see the table; at small sizes our peak is mostly the interpreter and its libraries)'}. "
              f"Largest difference of a statistic between the two engines: "
              + ", ".join(f"{r['stat_diff']:.1e} ({r['n']:,} rows)" for r in rows) + "."]
    lines += ["", "Disagreements: " + ("none." if not notes else "")] + [f"- {x}" for x in notes]
    if stream: lines += stream_lines(stream)
    lines.append(END)
    text = "\n".join(lines)
    print(text)
    if not a.no_write: write_section(text, BEGIN, END)


if __name__ == "__main__":
    main()
