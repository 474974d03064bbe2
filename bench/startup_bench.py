"""Start-up: `mlops-nb --help` and `import mlops_nb.drift` in new processes, against `python -c pass` (the lower bound).

Each command is a new process (what a user or a DVC stage pays), run in turns (pass, --help, drift import, pass, ...),
--reps times; medians, written to bench/RESULTS.md between the `<!-- startup -->` markers.

    .venv/bin/python bench/startup_bench.py [--reps 9] [--no-write]
"""
from __future__ import annotations
import argparse, os, platform, statistics, subprocess, sys, time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_section  # noqa: E402

VENV_BIN = Path(sys.executable).parent
COMMANDS = {
    "`python -c pass` (lower bound)": [sys.executable, "-c", "pass"],
    "`mlops-nb --help`": [str(VENV_BIN / "mlops-nb"), "--help"],
    "`python -c 'import mlops_nb.drift'`": [sys.executable, "-c", "import mlops_nb.drift"],
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "DVC_NO_ANALYTICS": "1", "MPLBACKEND": "Agg"}
    walls, loads = {k: [] for k in COMMANDS}, []
    for cmd in COMMANDS.values(): subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)  # warm the file cache
    for _ in range(a.reps):
        for name, cmd in COMMANDS.items():
            loads.append(os.getloadavg()[0])
            t0 = time.perf_counter(); subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
            walls[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in walls.items()}
    rows = "\n".join(f"| {k} | {v:.2f} s | {min(walls[k]):.2f}–{max(walls[k]):.2f} s |" for k, v in med.items())
    text = f"""<!-- startup -->
## Start-up: new processes (bench/startup_bench.py)

{date.today()}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; {a.reps} interleaved runs each,
load average {min(loads):.1f}–{max(loads):.1f} (median {statistics.median(loads):.1f}). Goals (issue 11): `--help` ≤ 0.5 s,
`import mlops_nb.drift` ≤ 0.5 s: heavy libraries (pandas, scipy, pyarrow, MLflow, scikit-learn) are imported where used.

| command | wall (median) | range |
|---|---|---|
{rows}
<!-- /startup -->
"""
    print(text)
    if not a.no_write: write_section(text, "<!-- startup -->", "<!-- /startup -->")


if __name__ == "__main__":
    main()
