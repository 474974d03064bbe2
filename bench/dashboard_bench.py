"""Dashboard benchmark: first meaningful render and interaction latency in a real browser.

Debian's chromium (driven by Playwright) opens each Voila dashboard served by `mlops-nb dashboards`
on a finished demo project and times navigation start -> the dashboard's main widget visible
(`performance.now()` when the selector appears), then a dropdown change -> the updated
image/text. The lower bound, measured in the same run: Voila rendering a trivial notebook with
one widget (plain `voila`, same machine, same browser). A second project, with the row-level
results the dashboards read grown to 1 M rows, shows how render time scales. Medians of
`--repeats` fresh page loads after one warm-up; peak RSS is the server's process tree
(Voila + its kernels). Written to bench/RESULTS.md between the `<!-- dashboards -->` markers.

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
# outerHTML changes (an <img> gets a new src, an HTML widget new content). Hooks: DASHBOARD_HOOKS.md.
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
      ("sort → column table", ".mlops-drift-sort", ".mlops-drift-columns")]),
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
    "Wait until the pool of `notebook` was refilled (each page load takes its preheated kernel)."
    t0 = time.monotonic()
    while pool_filled(server, notebook) < at_least and time.monotonic() - t0 < timeout: time.sleep(0.2)
    time.sleep(1.0)  # the refilled kernel finishes its pre-request cells


def render_time(page, url: str, selector: str, timeout=300_000) -> float:
    "Seconds from navigation start to `selector` visible (the page's own clock)."
    page.goto("about:blank")
    page.goto(url, wait_until="commit", timeout=timeout)
    page.wait_for_selector(selector, state="visible", timeout=timeout)
    return page.evaluate("performance.now()") / 1000


def interaction_time(page, widget: str, output: str, timeout=60_000) -> float:
    "Seconds from choosing the next option of the <select> in `widget` to a change of `output`."
    sel = page.locator(f"{widget} select").first
    n = sel.locator("option").count()
    i = sel.evaluate("s => s.selectedIndex")
    handle = page.locator(output).first.element_handle()
    before = handle.evaluate("el => el.outerHTML")
    t0 = time.perf_counter()
    sel.select_option(index=(i + 1) % n)
    page.wait_for_function("([el, before]) => el.isConnected && el.outerHTML !== before", arg=[handle, before],
                           polling="raf", timeout=timeout)
    return time.perf_counter() - t0


def measure(page, server, repeats: int, cases, prefix="/voila/render/") -> dict:
    out = {}
    for name, nb, selector, interactions in cases:
        url = f"{server.url}{prefix}{nb}.ipynb" if nb else server.url + "/"
        nb_file = f"{nb}.ipynb"
        rs = []
        for k in range(repeats + 1):  # the first is a warm-up
            wait_pool(server, nb_file, pool_filled(server, nb_file))
            try: t = render_time(page, url, selector)
            except Exception as e:  # a page that never rendered is a result, not a crash (recorded as inf)
                print(f"{name}: no render within the timeout ({str(e).splitlines()[0][:80]})", flush=True); t = math.inf
            if k: rs.append(t)
        page.wait_for_load_state("networkidle")
        its = {}
        for label, widget, output in interactions:
            if page.locator(f"{widget} select option").count() < 2: continue  # nothing to switch to
            interaction_time(page, widget, output)  # warm-up
            its[label] = [interaction_time(page, widget, output) for _ in range(repeats)]
        out[name] = dict(render=rs, interactions=its)
    return out


def trivial_notebook(d: Path) -> Path:
    import nbformat as nbf
    nb = nbf.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [nbf.v4.new_code_cell("import ipywidgets as w\nb = w.Button(description='hello')\nb.add_class('bench-trivial')\nb")]
    nbf.write(nb, d / "trivial.ipynb")
    return d / "trivial.ipynb"


def lower_bound(pw_browser, repeats: int, tmp: Path) -> dict:
    """A one-button notebook served (1) with exactly the Voila flags `mlops-nb dashboards` uses (preheated pool),
    (2) by plain `voila` (a kernel started per page)."""
    from mlops_nb.dashboards import voila_command
    d = tmp / "trivial"; d.mkdir()
    trivial_notebook(d)
    out = {}
    for name in ("same flags", "plain"):
        port = B.free_port()
        cmd = voila_command(d, port) if name == "same flags" else B.voila_cmd(d, port)
        with B.Server(cmd, d, port, tmp / f"trivial-{name.replace(' ', '-')}.log") as s:
            rss = PeakRSS(s.proc.pid); rss.start()
            page = pw_browser.new_page(viewport=B.VIEWPORT)
            r = measure(page, s, repeats, [("trivial", "trivial", ".bench-trivial", [])])["trivial"]
            page.close()
            r["rss"] = rss.stop()
        out[name] = r
    return out


def dashboards_server(project: Path, tmp: Path, name: str, **env):
    port = B.free_port()
    return B.Server(["mlops-nb", "dashboards", "--root", str(project), "--port", str(port)], project, port,
                    tmp / f"{name}.log", **env)


def serve_and_measure(pw_browser, project: Path, repeats: int, tmp: Path, name: str, cases) -> dict:
    with dashboards_server(project, tmp, name) as s:
        rss = PeakRSS(s.proc.pid); rss.start()
        page = pw_browser.new_page(viewport=B.VIEWPORT)
        r = measure(page, s, repeats, cases)
        page.close()
        r["_rss"] = rss.stop()
    return r


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
    lb_r = med(lb["same flags"]["render"])
    ms = lambda v: f"{v * 1000:.0f} ms"
    lines = [BEGIN, "## Dashboards: first render and interaction latency in a real browser", "",
             f"`bench/dashboard_bench.py`, {date.today()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"voila {voila.__version__}, playwright {version('playwright')} driving Debian chromium (headless), "
             f"viewport {B.VIEWPORT['width']}×{B.VIEWPORT['height']}; load average at start / end "
             f"{load[0]:.1f} / {load[1]:.1f} (other jobs were sharing the machine when it is above 2). "
             f"Project: {'the repository demo' if project == B.REPO else 'a copy of the demo'} (results of one `dvc repro`).", "",
             f"Render = navigation start → the dashboard's panel (`.mlops-dashboard`) visible, from the page's own clock "
             f"(`performance.now()`), median of {repeats} page loads after one warm-up (max in brackets); before each "
             "load the preheated kernel pool is allowed to refill (a burst of loads of one page would also wait for "
             "kernel start-up). Interaction = choosing the next option of a dropdown → the element it drives has "
             "changed (new image or table), median of the same count. Lower bound: a notebook with one button, "
             "served with exactly the Voila flags `mlops-nb dashboards` uses (preheated pool), same browser, same run; "
             "plain `voila` (a kernel per page) for reference.", "",
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
    lines += ["", f"Peak RSS of the server's process tree (Voila + kernels): lower bound {mb(lb['same flags']['rss'])} "
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
            lb = lower_bound(browser, a.repeats, tmp)
            print("lower bound:", {k: f"{statistics.median(v['render']):.2f} s" for k, v in lb.items()}, flush=True)
            demo = serve_and_measure(browser, project, a.repeats, tmp, "demo", cases)
            print("demo:", {k: f"{statistics.median(v['render']):.2f} s" for k, v in demo.items() if k[0] != "_"}, flush=True)
            big = None
            if a.rows:
                bp = big_project(project, a.rows, tmp / "big")
                big = serve_and_measure(browser, bp, a.repeats, tmp, "big", [c for c in DASHBOARDS if c[1] == "explain"])
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
