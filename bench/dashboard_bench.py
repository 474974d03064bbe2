"""Dashboard benchmark: first meaningful render and interaction latency in a real browser.

Debian's chromium (driven by Playwright) opens each Voila dashboard served by `mlops-nb dashboards`
on a finished demo project and times navigation start -> the dashboard's main widget visible
(`performance.now()` when the selector appears), then a dropdown change -> the updated
image/text. The lower bound, measured in the same run and interleaved with ours (lower bound,
dashboard, lower bound, dashboard, ...; both servers up all along): Voila rendering a trivial
notebook with one widget, served with the Voila flags `mlops-nb dashboards` uses (and, for
reference, by plain `voila`). A second project, with the row-level results the dashboards read
grown to 1 M rows, shows how render time scales. After every page load the preheated kernel pool
it used is given time to refill before the next load (so no load waits for, or competes with, a
refill), and every load waits until the servers' process trees are idle. Medians of `--repeats` turns after one warm-up load each; the 1-minute load average is
sampled at every load; peak RSS is the sum of RSS over each server's process tree (Voila + its
kernels), sampled every 0.2 s with psutil. Written to bench/RESULTS.md between the `<!-- dashboards -->` markers.

    .venv/bin/python bench/dashboard_bench.py [--project PATH] [--repeats 5] [--rows 1000000] [--no-write]

`--project` names a finished demo project (default: the repository root when `dvc repro` has
run there, else one is built in a temporary folder, ~2-4 min). Nothing in it is modified.
"""
import argparse, json, math, os, platform, shutil, statistics, sys, tempfile, threading, time
from datetime import date
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests")]
import browser_support as B  # tests/browser_support.py: server, browser, demo project
from results import write_section  # bench/results.py

BEGIN, END = "<!-- dashboards -->", "<!-- /dashboards -->"
RENDER_GOAL, INTERACT_GOAL, BIG_RENDER_GOAL = 2.0, 0.5, 3.0

# One dashboard = (name, notebook, main widget selector, interactions). An interaction = (label, widget
# class holding a <select>, element that must change): choose the next option, wait until the element's
# outerHTML changes (an <img> gets a new src, an HTML widget new content); an optional 4th item names the option
# indices to alternate between instead. Hooks: DASHBOARD_HOOKS.md.
DASHBOARDS = [
    ("index", "index", ".mlops-dashboard.mlops-index", []),
    ("registry review", "registry", ".mlops-dashboard.mlops-registry",
     [("challenger → comparison", ".mlops-challenger-select", ".mlops-compare")]),
    ("explainability", "explain", ".mlops-dashboard.mlops-explain",
     [("row → waterfall", ".mlops-row-select", "img.mlops-waterfall-plot"),
      ("feature → dependence plot", ".mlops-dependence-feature", "img.mlops-dependence-plot")]),
    ("fairness", "fairness", ".mlops-dashboard.mlops-fairness",
     [("feature → group table + plot", ".mlops-fairness-feature", "img.mlops-fairness-plot")]),
    ("drift", "drift", ".mlops-dashboard.mlops-drift",
     [("column → distribution", ".mlops-drift-column", "img.mlops-drift-hist"),
      # between "column name" and "most drifted first": other pairs of sorts may give the same table (no drift)
      ("sort → column table", ".mlops-drift-sort", ".mlops-drift-columns", (2, 0))]),
]


class PeakRSS(threading.Thread):
    "Samples the summed RSS of a process and its descendants every 0.2 s; `.peak` in bytes."
    def __init__(self, pid):
        super().__init__(daemon=True); self.pid, self.peak, self._halt = pid, 0, threading.Event()

    def run(self):
        import psutil
        try: root = psutil.Process(self.pid)
        except psutil.NoSuchProcess: return
        while not self._halt.is_set():
            try:
                total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
                self.peak = max(self.peak, total)
            except psutil.Error: pass
            self._halt.wait(0.2)

    def stop(self): self._halt.set(); self.join(2); return self.peak


def pool_filled(server, notebook: str) -> int:
    "How often Voila has logged that the preheated pool of `notebook` is full (0 without preheating)."
    return server.log().count(f"Kernel pool of {notebook} is filled")


def wait_pool(server, notebook: str, at_least: int, timeout=120):
    "Wait until the pool of `notebook` was filled `at_least` times (each page load takes its preheated kernel)."
    t0 = time.monotonic()
    while pool_filled(server, notebook) < at_least and time.monotonic() - t0 < timeout: time.sleep(0.2)
    time.sleep(1.0)  # the refilled kernel finishes its pre-request cells


LOADS: list[float] = []  # 1-minute load average, sampled before every page load
SERVERS: list = []  # the servers up: before a page load, their process trees must be idle


def tree_cpu_seconds() -> float:
    import psutil
    total = 0.0
    for s in SERVERS:
        if s.proc is None: continue
        try: procs = [psutil.Process(s.proc.pid)]; procs += procs[0].children(recursive=True)
        except psutil.Error: continue
        for p in procs:
            try: t = p.cpu_times(); total += t.user + t.system
            except psutil.Error: pass
    return total


def wait_quiet(threshold=0.1, window=0.5, timeout=60):
    """Wait until the servers' process trees (Voila and every kernel, including those of pages already left, which
    may still be computing) use less than `threshold` of a core over `window` seconds."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        c0 = tree_cpu_seconds(); time.sleep(window)
        if (tree_cpu_seconds() - c0) / window < threshold: return
    print(f"  servers still busy after {timeout} s; loading anyway", flush=True)


def load_page(page, server, nb: str, selector: str, preheated: bool, name: str = "") -> float:
    """Render time of one load of `nb`; then, on a preheated server, wait until its pool has refilled, so that the
    next load (of any page, on any server) meets an idle machine."""
    nb_file = f"{nb}.ipynb"
    if preheated: wait_pool(server, nb_file, 1)  # the pool filled at start-up
    wait_quiet()
    n0 = pool_filled(server, nb_file)
    LOADS.append(os.getloadavg()[0])
    try: t = render_time(page, f"{server.url}/voila/render/{nb_file}", selector)
    except Exception as e:  # a page that never rendered is a result, not a crash (recorded as inf)
        print(f"{name or nb}: no render within the timeout ({str(e).splitlines()[0][:80]})", flush=True); t = math.inf
    if preheated: wait_pool(server, nb_file, n0 + 1)
    else: time.sleep(1.0)
    return t


def render_time(page, url: str, selector: str, timeout=300_000) -> float:
    "Seconds from navigation start to `selector` visible (the page's own clock)."
    page.goto("about:blank")
    page.goto(url, wait_until="commit", timeout=timeout)
    page.wait_for_selector(selector, state="visible", timeout=timeout)
    return page.evaluate("performance.now()") / 1000


def interaction_time(page, widget: str, output: str, cycle=None, timeout=60_000) -> float:
    "Seconds from choosing the next option of the <select> in `widget` (or the other one of `cycle`) to a change of `output`."
    sel = page.locator(f"{widget} select").first
    n = sel.locator("option").count()
    i = sel.evaluate("s => s.selectedIndex")
    nxt = (i + 1) % n if not cycle else cycle[1] if i == cycle[0] else cycle[0]
    handle = page.locator(output).first.element_handle()
    before = handle.evaluate("el => el.outerHTML")
    t0 = time.perf_counter()
    sel.select_option(index=nxt)
    page.wait_for_function("([el, before]) => el.isConnected && el.outerHTML !== before", arg=[handle, before],
                           polling="raf", timeout=timeout)
    return time.perf_counter() - t0


def interactions(page, cases_interactions, repeats: int) -> dict:
    "Latency of each dropdown interaction on the rendered `page`: one warm-up, then `repeats` times."
    page.wait_for_load_state("networkidle")
    its = {}
    for label, widget, output, *cycle in cases_interactions:
        cycle = cycle[0] if cycle else None
        if page.locator(f"{widget} select option").count() < 2: continue  # nothing to switch to
        try:
            interaction_time(page, widget, output, cycle)  # warm-up
            its[label] = [interaction_time(page, widget, output, cycle) for _ in range(repeats)]
        except Exception as e:  # an interaction that never updated its element is a result, not a crash
            print(f"  {label}: no change within the timeout ({str(e).splitlines()[0][:80]})", flush=True)
            its[label] = [math.inf]
    return its


def interleaved(pages, lb, server, cases, repeats: int) -> tuple[dict, list]:
    """Render times of `cases` on `server`, each load preceded by a load of the trivial notebook on the lower-bound
    server `lb` (lower bound, ours, lower bound, ours, ...); one warm-up turn first; then the interactions.
    Returns ({case: {render, interactions}}, lower-bound render times)."""
    page_lb, page = pages
    out = {name: dict(render=[], interactions={}) for name, *_ in cases}
    lb_times = []
    for k in range(repeats + 1):  # the first turn is a warm-up
        for name, nb, selector, _ in cases:
            t_lb = load_page(page_lb, lb, "trivial", ".bench-trivial", True, "lower bound")
            t = load_page(page, server, nb, selector, True, name)
            print(f"  turn {k}: lower bound {t_lb:.2f} s, {name} {t:.2f} s (load {LOADS[-1]:.1f})", flush=True)
            if k: lb_times.append(t_lb); out[name]["render"].append(t)
    for name, nb, selector, its in cases:
        if not its: continue
        load_page(page, server, nb, selector, True, name)
        out[name]["interactions"] = interactions(page, its, repeats)
    return out, lb_times


def trivial_notebook(d: Path) -> Path:
    import nbformat as nbf
    nb = nbf.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [nbf.v4.new_code_cell("import ipywidgets as w\nb = w.Button(description='hello')\nb.add_class('bench-trivial')\nb")]
    nbf.write(nb, d / "trivial.ipynb")
    return d / "trivial.ipynb"


def trivial_servers(tmp: Path):
    """The one-button notebook served (1) with exactly the Voila flags `mlops-nb dashboards` uses (preheated pool),
    (2) by plain `voila` (a kernel started per page)."""
    from mlops_nb.dashboards import voila_command
    d = tmp / "trivial"; d.mkdir()
    trivial_notebook(d)
    p1, p2 = B.free_port(), B.free_port()
    return (B.Server(voila_command(d, p1), d, p1, tmp / "trivial-same-flags.log"),
            B.Server(B.voila_cmd(d, p2), d, p2, tmp / "trivial-plain.log"))


def dashboards_server(project: Path, tmp: Path, name: str, **env):
    port = B.free_port()
    return B.Server(["mlops-nb", "dashboards", "--root", str(project), "--port", str(port)], project, port,
                    tmp / f"{name}.log", **env)


def finished_project(arg, tmp: Path) -> Path:
    if arg: return Path(arg).resolve()
    if (B.REPO / "reports" / "gates.json").exists() and (B.REPO / "mlflow.db").exists(): return B.REPO
    print("building a finished demo project (dvc repro, ~2-4 min) ...", flush=True)
    return B.build_demo_project(tmp / "demo")


def big_project(project: Path, rows: int, dest: Path) -> Path:
    """The project's results with the row-level file the dashboards read grown to `rows` rows.

    Only the explainability dashboard reads per-row data: reports/explain/local.parquet (the SHAP values of
    every explained row; `explain.sample_size` rows). Everything else the dashboards read is aggregated
    (gates, fairness groups, drift histograms, one line per monitored batch), so it does not grow with rows.
    The rows are the project's explained rows resampled with noise; explain.json says `rows` were explained.
    The copy shares the MLflow store's artifacts by absolute path (read only)."""
    import numpy as np, pandas as pd
    dest.mkdir(parents=True)
    for f in ("settings.ini", "params.yaml", "roles.yaml", "dvc.yaml", "mlflow.db"):
        if (project / f).exists(): shutil.copy2(project / f, dest / f)
    for d in ("reports", "audit", "monitoring"):
        if (project / d).exists(): shutil.copytree(project / d, dest / d)
    ex_path = dest / "reports" / "explain" / "explain.json"
    ex = json.loads(ex_path.read_text())
    small = pd.read_parquet(project / "reports" / "explain" / "local.parquet")
    rng = np.random.default_rng(0)
    big = small.iloc[rng.integers(0, len(small), rows)].reset_index(drop=True)
    shap_cols = [c for c in big if c.startswith("shap_")]
    big[shap_cols] = big[shap_cols].to_numpy() * rng.normal(1, 0.05, (rows, len(shap_cols)))
    keep = np.asarray(ex["local"]["position"])  # the rows explain.json shows in full: first, unchanged
    big.loc[: len(keep) - 1, small.columns] = small.set_index("position").loc[keep].reset_index()[small.columns].to_numpy()
    big.loc[len(keep):, "position"] = int(small["position"].max()) + 1 + np.arange(rows - len(keep))
    big["position"] = big["position"].astype("int64")
    big["output"] = big["expected_value"] + big[shap_cols].sum(axis=1)
    big.to_parquet(dest / "reports" / "explain" / "local.parquet", index=False)
    ex["n_sample"] = ex["n_rows"] = rows
    ex_path.write_text(json.dumps(ex))
    return dest


def section(lb: dict, demo: dict, big: dict | None, rows: int, repeats: int, load: tuple, project: Path) -> str:
    import voila
    from importlib.metadata import version
    med = statistics.median
    lb_r = med(lb["same flags"]["render"])  # all loads of the lower bound, interleaved with ours
    ms = lambda v: f"{v * 1000:.0f} ms"
    lines = [BEGIN, "## Dashboards: first render and interaction latency in a real browser", "",
             f"`bench/dashboard_bench.py`, {date.today()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"voila {voila.__version__}, playwright {version('playwright')} driving Debian chromium (headless), "
             f"viewport {B.VIEWPORT['width']}×{B.VIEWPORT['height']}; load average at start / end "
             f"{load[0]:.1f} / {load[1]:.1f}, median {med(LOADS):.1f} (max {max(LOADS):.1f}) over the page loads. "
             f"Project: {'the repository demo' if project == B.REPO else 'a copy of the demo'} (results of one `dvc repro`).", "",
             f"Render = navigation start → the dashboard's panel (`.mlops-dashboard`) visible, from the page's own clock "
             f"(`performance.now()`), median of {repeats} page loads after one warm-up (max in brackets); after each "
             "load the preheated kernel pool it used is given time to refill, and before each load the servers' process trees "
             "(Voila and all kernels) must be idle, below 0.1 core (a burst of loads of one page would also wait for kernel start-up). Interleaved: every load of a dashboard follows a load of the "
             "lower bound (lower bound, dashboard, lower bound, dashboard, ...; both servers up all along). Interaction = choosing the next option of a dropdown → the element it drives has "
             "changed (new image or table), median of the same count. Lower bound: a notebook with one button, "
             "served with exactly the Voila flags `mlops-nb dashboards` uses (preheated pool), same browser, same run "
             "(median over all its interleaved loads); plain `voila` (a kernel per page), loaded in the same turns, for reference.", "",
             "| page | data | render | vs lower bound | goal | interactions: median (max) | goal |",
             "|---|---|---|---|---|---|---|"]
    for name in ("same flags", "plain"):
        r = lb[name]["render"]
        lines.append(f"| lower bound: one-button notebook, {'`mlops-nb dashboards` Voila flags' if name == 'same flags' else 'plain `voila`'} "
                     f"| — | {med(r):.2f} s ({max(r):.2f}) | {med(r) / lb_r:.1f}× | — | — | — |")

    def rows_for(res, data, goal):
        out = []
        for name, r in res.items():
            if name.startswith("_"): continue
            rm = med(r["render"])
            inter = "; ".join(f"{k}: {ms(med(v))} ({ms(max(v))})" for k, v in r["interactions"].items()) or "—"
            imax = max([med(v) for v in r["interactions"].values()], default=None)
            out.append(f"| {name} | {data} | {rm:.2f} s ({max(r['render']):.2f}) | {rm / lb_r:.1f}× | ≤ {goal:g} s: "
                       f"**{'met' if rm <= goal else 'NOT met'}** | {inter} | "
                       + ("—" if imax is None else f"≤ {ms(INTERACT_GOAL)}: **{'met' if imax <= INTERACT_GOAL else 'NOT met'}**")
                       + " |")
        return out
    lines += rows_for(demo, "demo results", RENDER_GOAL)
    if big: lines += rows_for(big, f"local.parquet {rows:,} rows", BIG_RENDER_GOAL)
    mb = lambda b: f"{b / 2**20:,.0f} MB"
    fast = [n for res in (demo, big or {}) for n, r in res.items() if n[0] != "_" and med(r["render"]) < lb_r]
    if fast:
        lines += ["", "A ratio below 1× does not make a page faster than the lower bound: single loads of the lower bound "
                  f"spread from {min(lb['same flags']['render']):.2f} to {max(lb['same flags']['render']):.2f} s in this run, "
                  "so those pages render as fast as a one-button notebook, within that spread."]
    lines += ["", f"Peak RSS of each server's process tree (Voila + kernels, over the whole run: kernels of pages already "
              f"left stay until culled, 60 s idle): lower bound {mb(lb['same flags']['rss'])} "
              f"(plain voila {mb(lb['plain']['rss'])}); dashboards on the demo {mb(demo['_rss'])}"
              + (f"; explainability with {rows:,} rows {mb(big['_rss'])}" if big else "") + ".",
              "", "What grows with rows: only `reports/explain/local.parquet` (one row of SHAP values per explained row; "
              "`explain.sample_size` rows) is row-level; gates, fairness groups, drift histograms and the monitoring "
              "history are aggregates, so only the explainability dashboard is measured with the big file.", END]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", help="a finished demo project (default: the repository root if finished)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the big case (0: skip it)")
    ap.add_argument("--no-write", action="store_true", help="print the table, do not touch bench/RESULTS.md")
    a = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright
    load0 = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="dashboard_bench."))
    try:
        project = finished_project(a.project, tmp)
        cases = [c for c in DASHBOARDS if c[1] != "drift" or (project / "reports" / "drift" / "drift.json").exists()]
        with sync_playwright() as pw:
            browser = B.launch_browser(pw)
            pages = lambda: (browser.new_page(viewport=B.VIEWPORT), browser.new_page(viewport=B.VIEWPORT))
            same, plain = trivial_servers(tmp)
            with same, plain, dashboards_server(project, tmp, "demo") as demo_s:
                SERVERS[:] = [same, plain, demo_s]
                rss = {k: PeakRSS(v.proc.pid) for k, v in (("same", same), ("plain", plain), ("demo", demo_s))}
                for r in rss.values(): r.start()
                pg = pages()
                demo, lb_same = interleaved(pg, same, demo_s, cases, a.repeats)
                lb_plain = []  # plain voila, for reference: interleaved with the same-flags lower bound
                for k in range(a.repeats + 1):
                    t_s = load_page(pg[0], same, "trivial", ".bench-trivial", True, "lower bound")
                    t = load_page(pg[1], plain, "trivial", ".bench-trivial", False, "plain voila")
                    if k: lb_same.append(t_s); lb_plain.append(t)
                demo["_rss"] = rss["demo"].stop()
                big = None
                if a.rows:
                    bp = big_project(project, a.rows, tmp / "big")
                    with dashboards_server(bp, tmp, "big") as big_s:
                        SERVERS[:] = [same, plain, big_s]
                        rb = PeakRSS(big_s.proc.pid); rb.start()
                        big, lb_big = interleaved(pg, same, big_s, [c for c in DASHBOARDS if c[1] == "explain"], a.repeats)
                        big["_rss"] = rb.stop()
                    lb_same += lb_big
                for p in pg: p.close()
                lb = {"same flags": dict(render=lb_same, rss=rss["same"].stop()), "plain": dict(render=lb_plain, rss=rss["plain"].stop())}
            print("lower bound:", {k: f"{statistics.median(v['render']):.2f} s" for k, v in lb.items()}, flush=True)
            print("demo:", {k: f"{statistics.median(v['render']):.2f} s" for k, v in demo.items() if k[0] != "_"}, flush=True)
            browser.close()
        text = section(lb, demo, big, a.rows, a.repeats, (load0, os.getloadavg()[0]), project)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(text)
    if not a.no_write:
        write_section(text, BEGIN, END)
        print(f"wrote the dashboards section of {BENCH / 'RESULTS.md'}")


if __name__ == "__main__":
    sys.exit(main())
