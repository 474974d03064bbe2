"""Serving benchmark: `mlops-nb serve` against `mlflow models serve` on the same registered model, same machine, same
client, interleaved (peer, ours, peer, ours, ...), 127.0.0.1 only.

Each turn sends --requests single-record JSON requests from --clients threads (a new HTTP connection per request for
both) and measures throughput and the p50/p99 latency of the answered requests; peak RSS is the server process's
(VmHWM). Ours does more per request than the peer: it checks the record against the data contract (pandera), returns
the score and the decision, and writes every row to the prediction log before answering. A last turn sends 10,000
requests to ours and counts the logged rows (zero lost). Written to bench/RESULTS.md between the `<!-- serve -->` markers.

    .venv/bin/python bench/serve_bench.py [--project DIR] [--requests 400] [--clients 4] [--repeats 3] [--no-write]

Without --project it builds a small project (`mlops-nb init` on 20,000 rows of the demo data, `dvc repro`) and makes
version 1 @champion.
"""
import argparse, json, os, platform, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request
from datetime import datetime, timezone
from pathlib import Path

os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", DVC_NO_ANALYTICS="1", MPLBACKEND="Agg")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from results import write_section  # bench/results.py

BEGIN, END = "<!-- serve -->", "<!-- /serve -->"
VENV = Path(sys.executable).parent


def env():
    e = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    e["PATH"] = f"{VENV}{os.pathsep}{e['PATH']}"
    return e


def sh(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env())
    if r.returncode: raise SystemExit(f"{cmd} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


def build_project() -> Path:
    import pandas as pd
    d = Path(tempfile.mkdtemp(prefix="serve_bench."))
    df = pd.read_parquet(REPO / "data/raw/acs_employment_ma.parquet").sample(20_000, random_state=0)
    df.to_parquet(d / "acs.parquet", index=False)
    sh(["mlops-nb", "init", str(d / "p"), "--data", str(d / "acs.parquet"), "--target", "employed", "--time-column", "year",
        "--id", "id"], d)
    print("dvc repro ...", flush=True); sh(["dvc", "repro"], d / "p")
    return d / "p"


def champion(root: Path):
    import mlflow
    sys.path.insert(0, str(REPO))
    from mlops_nb.config import load_settings
    s = load_settings(root / "settings.ini")
    c = mlflow.MlflowClient(s.tracking_uri, s.registry_uri)
    c.set_registered_model_alias(s.mlflow.model_name, "champion", "1")
    return s


def port() -> int:
    with socket.socket() as sk: sk.bind(("127.0.0.1", 0)); return sk.getsockname()[1]


def wait(url, proc, timeout=180):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: raise SystemExit(f"server exited: {proc.stdout.read()[-2000:]}")
        try: urllib.request.urlopen(url, timeout=5).read(); return
        except OSError: time.sleep(0.3)
    raise SystemExit(f"{url} did not answer in {timeout} s")


def rss_peak_mb(pid) -> float:
    "Peak RSS of the process and its children (mlflow runs its server in a child), from /proc VmHWM."
    total = 0
    for p in [pid] + [int(c) for c in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"): total += int(line.split()[1])
        except OSError: pass
    return total / 1024


class Server:
    def __init__(self, kind, root, settings):
        self.port = port()
        if kind == "ours":
            cmd = ["mlops-nb", "serve", "--root", str(root), "--port", str(self.port), "--reload-seconds", "5"]
            self.url, self.health = f"http://127.0.0.1:{self.port}/predict", f"http://127.0.0.1:{self.port}/health"
        else:
            cmd = ["mlflow", "models", "serve", "-m", f"models:/{settings.mlflow.model_name}@champion", "--env-manager", "local",
                   "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
            self.url, self.health = f"http://127.0.0.1:{self.port}/invocations", f"http://127.0.0.1:{self.port}/ping"
        e = env(); e["MLFLOW_TRACKING_URI"] = settings.tracking_uri
        self.proc = subprocess.Popen(cmd, cwd=root, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        wait(self.health, self.proc)

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try: self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired: os.killpg(self.proc.pid, signal.SIGKILL); self.proc.wait()


def load(url, bodies, clients) -> dict:
    "Send every body once from `clients` threads; throughput and latency percentiles of the answered ones."
    lat, errors, lock, it = [], [], threading.Lock(), iter(bodies)
    def worker():
        while True:
            with lock: b = next(it, None)
            if b is None: return
            t = time.perf_counter()
            try:
                urllib.request.urlopen(urllib.request.Request(url, b, {"Content-Type": "application/json"}), timeout=60).read()
                with lock: lat.append(time.perf_counter() - t)
            except (urllib.error.URLError, OSError) as e:
                with lock: errors.append(repr(e))
    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(clients)]
    for t in ts: t.start()
    for t in ts: t.join()
    wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [float("nan")] * 99
    return {"rps": len(lat) / wall, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000, "errors": len(errors), "n": len(lat)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--project"); ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--clients", type=int, default=4); ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lossless", type=int, default=10_000, help="requests of the zero-loss turn (0: skip)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    import pandas as pd
    root = Path(a.project) if a.project else build_project()
    s = champion(root)
    test = pd.read_parquet(root / "data/prepared/test.parquet").drop(columns=["employed"])
    recs = json.loads(test.head(a.requests).to_json(orient="records"))
    ours_bodies = [json.dumps([r]).encode() for r in recs]
    cols = [c for c in test.columns if c not in ("id", "year")]
    peer_bodies = [json.dumps({"dataframe_records": [{k: r[k] for k in cols}]}).encode() for r in recs]
    runs, loads = {"peer": [], "ours": []}, []
    for rep in range(a.repeats):
        for kind in ("peer", "ours") if rep % 2 == 0 else ("ours", "peer"):
            srv = Server(kind, root, s)
            try:
                load(srv.url, (ours_bodies if kind == "ours" else peer_bodies)[:20], a.clients)  # warm up
                loads.append(os.getloadavg()[0])
                r = load(srv.url, ours_bodies if kind == "ours" else peer_bodies, a.clients)
                r["rss_mb"] = rss_peak_mb(srv.proc.pid)
            finally: srv.stop()
            runs[kind].append(r); print(kind, {k: round(v, 1) for k, v in r.items()}, flush=True)
    med = {k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in runs.items()}
    lossless = ""
    if a.lossless:
        sys.path.insert(0, str(REPO))
        from mlops_nb.prediction_log import read_log
        before = len(read_log(root))
        srv = Server("ours", root, s)
        try: r = load(srv.url, [ours_bodies[i % len(ours_bodies)] for i in range(a.lossless)], a.clients)
        finally: srv.stop()
        logged = len(read_log(root)) - before
        lost = "no row lost" if logged == r["n"] else f"{r['n'] - logged} rows LOST"
        lossless = (f"- zero-loss turn: {a.lossless:,} requests to ours from {a.clients} clients, {r['n']:,} answered "
                    f"({r['errors']} errors), {logged:,} rows logged: **{lost}** "
                    f"({r['rps']:.0f} requests/s, p99 {r['p99_ms']:.0f} ms)\n")
        print(lossless, flush=True)
    o, p = med["ours"], med["peer"]
    text = f"""{BEGIN}
## Serving: `mlops-nb serve` vs `mlflow models serve` (`bench/serve_bench.py`)

- machine: {os.cpu_count()} cores, Python {platform.python_version()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; load average (1 min) over the turns: median {statistics.median(loads):.2f} (min {min(loads):.2f}, max {max(loads):.2f}): a shared machine
- the same registered model (`@champion`, HistGradientBoosting on the demo's columns), {a.requests} single-record JSON requests per turn from {a.clients} client threads, a new connection per request; {a.repeats} turns each, interleaved; medians
- ours checks each record against the data contract, answers score + decision + version + request id and logs the row before answering; the peer (`--env-manager local`, 1 worker) checks the MLflow signature and answers the predicted class

| server | requests/s | p50 latency | p99 latency | peak RSS |
|---|---:|---:|---:|---:|
| `mlflow models serve` | {p['rps']:.1f} | {p['p50_ms']:.0f} ms | {p['p99_ms']:.0f} ms | {p['rss_mb']:.0f} MB |
| `mlops-nb serve` | {o['rps']:.1f} | {o['p50_ms']:.0f} ms | {o['p99_ms']:.0f} ms | {o['rss_mb']:.0f} MB |
| ratio ours / peer | {o['rps'] / p['rps']:.2f}x | {o['p50_ms'] / p['p50_ms']:.2f}x | {o['p99_ms'] / p['p99_ms']:.2f}x | {o['rss_mb'] / p['rss_mb']:.2f}x |

Goal (issue 17): at least the peer's throughput at a lower p99: **{'met' if o['rps'] >= p['rps'] and o['p99_ms'] < p['p99_ms'] else 'not met'}**.
{lossless}{END}"""
    print(text)
    if not a.no_write: write_section(text, BEGIN, END)


if __name__ == "__main__":
    main()
