"""The dashboards in a real browser: `mlops-nb dashboards` (Voila) on a finished demo project, Debian
chromium driven by Playwright.

A copy of the session's built demo project (conftest.built_demo: one `dvc repro`), promotes its
version 1 as alice, scores a batch with `predict` and monitors its logged window, monitors two batches of the demo's 2018 rows (a like-for-like one, then one of
older people only, which calls for retraining) and registers version 2 as challenger (the register
stage once more), then
serves the dashboards as alice (approver) and, for one test, as eve (viewer). The tests open
every page, wait for its widgets, check what they show against the JSON files in reports/ and
MLflow, use the dropdowns and check the view changed, promote the challenger through the page
and check the alias and the audit log. A screenshot of each page (full page, 1366×900) goes to
$MLOPS_NB_ARTIFACTS (default: a pytest temp folder); `MLOPS_NB_UPDATE_SCREENSHOTS=1` also
copies them to docs/screenshots/ for the README.

Dev shortcut: MLOPS_NB_TEST_DEMO_PROJECT=/path/of/a/finished/demo copies that folder (store relocated)
instead of running the pipeline.
"""
import json, math, os, re, shutil, subprocess
from pathlib import Path

import pytest
import yaml

import browser_support as B

pytest.importorskip("voila")
sync_api = pytest.importorskip("playwright.sync_api")
if not Path(B.CHROMIUM).exists():
    pytest.skip(f"{B.CHROMIUM} not found (apt-get install -y chromium, or set MLOPS_NB_CHROMIUM)", allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MODEL = "acs-employment"  # settings.ini [mlflow] model_name of the demo
PAGES = ("index", "registry", "explain", "fairness", "drift")
WAIT = 120_000  # ms: a page on a loaded 2-core machine (seen: 50 s at load average 13)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    d = Path(os.environ.get("MLOPS_NB_ARTIFACTS") or tmp_path_factory.mktemp("dashboard-artifacts"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def mlflow_client(project: Path):
    import mlflow
    uri = f"sqlite:///{project}/mlflow.db"  # both URIs: an earlier test may have set another registry URI in-process
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def aliases(project: Path) -> dict:
    return {a: str(v) for a, v in mlflow_client(project).get_registered_model(MODEL).aliases.items()}


@pytest.fixture(scope="session")
def project(request, tmp_path_factory) -> Path:
    """A copy of the session's built demo with a champion (v1, promoted by alice) and a challenger (v2, the register stage re-run)."""
    from mlops_nb.tracking import copy_project
    src = os.environ.get("MLOPS_NB_TEST_DEMO_PROJECT") or request.getfixturevalue("built_demo")
    d = copy_project(src, tmp_path_factory.mktemp("browser") / "demo")
    a = aliases(d)
    if "champion" not in a:
        B.run(["mlops-nb", "models", "promote", "", a["challenger"], "-m", "baseline from the first dvc repro"], d,
              MLOPS_NB_USER="alice")
    if not (d / "monitoring" / "history.jsonl").exists():  # two monitored batches: the drift page opens on the latest
        import pandas as pd
        raw = pd.read_parquet(d / "data" / "raw" / "acs_employment_ma.parquet")
        batches = tmp_path_factory.mktemp("batches")
        served = raw[raw.year == 2018].sample(2000, random_state=3).drop(columns=["employed"])
        served.to_parquet(batches / "scored.parquet")  # a batch scored (the index's "last batch"), then its log monitored
        B.run(["mlops-nb", "predict", str(batches / "scored.parquet"), "--out", str(batches / "scored_out.parquet")], d)
        B.run(["mlops-nb", "monitor", "--from-log"], d, check=False)
        for name, rows in (("like_2018", raw[raw.year == 2018].sample(4000, random_state=1)),
                           ("older_only", raw[(raw.year == 2018) & (raw.AGEP >= 55)].sample(3000, random_state=2))):
            rows.to_parquet(batches / f"{name}.parquet")
            B.run(["mlops-nb", "monitor", str(batches / f"{name}.parquet")], d, check=False)  # exit 1 when retraining is recommended
    if aliases(d).get("challenger") == aliases(d)["champion"]:
        B.run(["mlops-nb", "run-stage", "register"], d)  # a new version of the same run, as @challenger
    a = aliases(d)
    assert a["challenger"] != a["champion"], a
    return d


def serve(project, artifacts, name, *args, **env) -> B.Server:
    port = B.free_port()
    return B.Server(["mlops-nb", "dashboards", "--root", str(project), "--port", str(port), *args], project, port,
                    artifacts / f"server-{name}.log", ready_path="/", **env)


@pytest.fixture(scope="session")
def alice(project, artifacts):
    "The dashboards served with MLOPS_NB_USER=alice (an approver in the demo's roles.yaml)."
    with serve(project, artifacts, "alice", MLOPS_NB_USER="alice") as s:
        yield s


@pytest.fixture(scope="session")
def browser():
    with sync_api.sync_playwright() as pw:
        b = B.launch_browser(pw)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    "A fresh page; fails the test on any JavaScript error in it (a broken widget shows up here)."
    pg = browser.new_page(viewport=B.VIEWPORT)
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    pg.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def open_page(page, server, kind, query="") -> "Locator":
    "Open a dashboard and wait until its panel (`.mlops-dashboard.mlops-<kind>`) is visible."
    page.goto(f"{server.url}/voila/render/{kind}.ipynb{query}", wait_until="commit", timeout=WAIT)
    panel = page.locator(f".mlops-dashboard.mlops-{kind}")
    try:
        panel.wait_for(state="visible", timeout=WAIT)
    except Exception:
        raise AssertionError(f"{kind}: no panel after {WAIT / 1000:.0f} s; page text:\n{page.inner_text('body')[:2000]}\n"
                             f"server log:\n{server.log()[-2000:]}")
    page.wait_for_load_state("networkidle", timeout=WAIT)  # images arrive after the widget models
    return panel


def shoot(page, artifacts, name) -> Path:
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=WAIT)  # no half-drawn plot
    p = B.save_screenshot(page, artifacts / f"{name}.png")
    if os.environ.get("MLOPS_NB_UPDATE_SCREENSHOTS"):
        (B.REPO / "docs" / "screenshots").mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, B.REPO / "docs" / "screenshots" / p.name)
    return p


def img_src(page, selector) -> str:
    loc = page.locator(selector).first
    loc.wait_for(state="visible", timeout=WAIT)
    return loc.get_attribute("src") or ""  # a blob: URL, new for every new image


def choose(page, selector, index: int):
    "Choose option `index` of the <select> inside the widget with class `selector`."
    page.locator(f"{selector} select").first.select_option(index=index)


def options(page, selector) -> list:
    "Option labels (ipywidgets writes spaces as non-breaking spaces)."
    return [t.replace("\xa0", " ") for t in page.locator(f"{selector} select option").all_inner_texts()]


def wait_changed(page, selector, attr, before):
    page.wait_for_function(
        "([sel, attr, before]) => { const el = document.querySelector(sel);"
        " const v = attr === 'text' ? el && el.innerText : el && el.getAttribute(attr);"
        " return v && v !== before; }", arg=[selector, attr, before], timeout=WAIT)


def reports(project, path):
    return json.loads((project / "reports" / path).read_text())


def fmt4(v) -> str:  # how the dashboards print numbers: 4 significant digits
    return f"{v:.4g}"


def labels(project) -> dict:
    "The value labels of the project's contract.yaml: {column: {code: text}}."
    cols = yaml.safe_load((project / "contract.yaml").read_text())["columns"]
    return {c: {str(k): str(v) for k, v in r["labels"].items()} for c, r in cols.items() if r.get("labels")}


def named(project, column, code) -> str:
    "How a page shows a coded value: 'Female (2)'."
    name = labels(project).get(column, {}).get(str(code))
    return f"{name} ({code})" if name else str(code)


# ---------------------------------------------------------------- pages as alice

def test_index_lists_dashboards_and_versions(project, alice, page, artifacts):
    panel = open_page(page, alice, "index")
    text = panel.inner_text()
    assert MODEL in text
    links = [a.get_attribute("href") for a in page.locator("a.mlops-index-link").all()]
    assert [l.split("?")[0] for l in links] == [f"{k}.ipynb" for k in PAGES[1:]]
    deep = {a.get_attribute("href") for a in page.locator("a.mlops-deep-link").all()}
    versions = {mv.version for mv in mlflow_client(project).search_model_versions(f"name='{MODEL}'")}
    assert deep == {f"registry.ipynb?model={MODEL}&version={v}" for v in versions}, deep
    live = page.locator(".mlops-live").inner_text()  # no `mlops-nb serve` running; `predict` scored a batch
    assert "Not served" in live and "Last batch: scored.parquet, 2,000 rows scored by v" in live, live
    shoot(page, artifacts, "index")
    a = aliases(project)
    page.locator(f'a.mlops-deep-link[href$="version={a["champion"]}"]').click()  # follow a deep link
    page.locator(".mlops-dashboard.mlops-registry").wait_for(state="visible", timeout=WAIT)
    assert page.locator(".mlops-challenger-select select").input_value() == a["champion"] or \
        f"v{a['champion']}" in page.locator(".mlops-challenger-select select option:checked").inner_text()


def test_registry_compares_challenger_with_champion(project, alice, page, artifacts):
    a = aliases(project)
    panel = open_page(page, alice, "registry")
    assert f"Champion: v{a['champion']}" in page.locator(".mlops-champion-line").inner_text()
    assert f"v{a['challenger']}" in page.locator(".mlops-challenger-select select option:checked").inner_text()
    versions = page.locator(".mlops-registry-table tbody tr").all_inner_texts()
    assert {r.split()[0] for r in versions} >= {a["champion"], a["challenger"]}
    # metrics: the challenger column holds reports/metrics.json (the project's last run registered it)
    metrics = reports(project, "metrics.json")
    rows = {r.split("\t")[0]: r.split("\t") for r in page.locator(".mlops-metrics-table tbody tr").all_inner_texts()}
    assert fmt4(metrics["roc_auc"]) == rows["roc_auc"][2] and fmt4(metrics["accuracy"]) == rows["accuracy"][2], rows
    # gates: one row per gate of reports/gates.json with its verdict
    gates = reports(project, "gates.json")
    shown = {r.split("\t")[0]: r for r in page.locator(".mlops-gates-table tbody tr").all_inner_texts()}
    assert set(shown) == {g["name"] for g in gates["gates"]}
    for g in gates["gates"]:
        assert ("PASS" if g["passed"] else "FAIL") in shown[g["name"]], (g, shown[g["name"]])
        if g.get("value") is not None: assert fmt4(g["value"]) in shown[g["name"]]
    verdict = page.locator(".mlops-gates-verdict").first.inner_text()
    assert ("PASS" if gates["verdict"] == "pass" else "FAIL") in verdict
    assert "alice" in page.locator(".mlops-identity").inner_text()
    shoot(page, artifacts, "registry")


def test_registry_deep_link_and_bad_version(project, alice, page):
    a = aliases(project)
    open_page(page, alice, "registry", f"?model={MODEL}&version={a['champion']}")
    assert f"v{a['champion']}" in page.locator(".mlops-challenger-select select option:checked").inner_text()
    panel = open_page(page, alice, "registry", f"?model={MODEL}&version=999")
    err = panel.locator(".mlops-error").first.inner_text()
    assert "version 999" in err and MODEL in err


def test_explain_rows_and_dependence(project, alice, page, artifacts):
    ex = reports(project, "explain/explain.json")
    panel = open_page(page, alice, "explain")
    summary = panel.locator(".mlops-explain-summary").inner_text()
    assert ex["explainer"] in summary and f"{ex['n_rows']}" in summary.replace(",", "") and f"{ex['n_sample']}" in summary
    for cls in ("mlops-importance-plot", "mlops-beeswarm-plot", "mlops-waterfall-plot", "mlops-dependence-plot"):
        img_src(page, f".{cls}")
    # the row selector: another row -> its prediction line and waterfall
    loc = ex["local"]
    rows = options(page, ".mlops-row-select")
    assert rows == [str(i) for i in loc["index"]]
    pred0, wf0 = page.locator(".mlops-prediction").first.inner_text(), img_src(page, ".mlops-waterfall-plot")
    choose(page, ".mlops-row-select", 3)
    wait_changed(page, "div.mlops-prediction", "text", pred0)
    pred = page.locator(".mlops-prediction").first.inner_text()
    assert f"Row {loc['index'][3]}" in pred and f"{loc['output'][3]:.3f}" in pred, pred
    coded = [c for c in list(loc["data"])[:6] if c in labels(project)]
    assert coded and all(f"{c}: {named(project, c, loc['data'][c][3])}" in pred for c in coded), pred  # "SCHL: Regular high school diploma (16)"
    assert f"actual outcome {ex['target']} = {named(project, ex['target'], loc['actual'][3])}" in pred, pred  # what really happened
    assert "log-odds" not in ex["unit"] or "even chance" in panel.locator(".mlops-unit-text").inner_text()
    wait_changed(page, ".mlops-waterfall-plot", "src", wf0)
    # the dependence dropdown: another feature -> another plot
    feats = options(page, ".mlops-dependence-feature")
    assert set(feats) == set(ex["features"]) and feats[0] == max(ex["importance"], key=ex["importance"].get)
    dep0 = img_src(page, ".mlops-dependence-plot")
    choose(page, ".mlops-dependence-feature", 2)
    wait_changed(page, ".mlops-dependence-plot", "src", dep0)
    shoot(page, artifacts, "explain")


def test_fairness_verdicts_and_feature_switch(project, alice, page, artifacts):
    fair, gates = reports(project, "fairness/fairness.json"), reports(project, "gates.json")
    panel = open_page(page, alice, "fairness")
    fg = [g for g in gates["gates"] if g.get("family") == "fairness"]
    verdict = panel.locator(".mlops-fairness-verdict").inner_text()
    assert f"{sum(g['passed'] for g in fg)} of {len(fg)} pass" in verdict
    assert ("PASS" if all(g["passed"] for g in fg) else "FAIL") in verdict
    feats = options(page, ".mlops-fairness-feature")
    assert feats == list(fair["features"])

    def groups_shown():
        return {r.split("\t")[0]: r.split("\t")[1] for r in page.locator(".mlops-fairness-table tbody tr").all_inner_texts()}

    def groups_expected(f):
        return {named(project, f, g["group"]): str(g["count"]) for g in fair["features"][f]["groups"]}

    def four_fifths(f):  # the lowest selection rate of the groups in the gates over the highest
        rates = [g["selection_rate"] for g in fair["features"][f]["groups"] if g.get("included", True)]
        return min(rates) / max(rates)

    assert {k: v.replace(",", "") for k, v in groups_shown().items()} == groups_expected(feats[0])
    for v in page.locator(".mlops-gates-verdict").all_inner_texts():  # one verdict per feature, never a "—" beside a PASS
        assert "—" not in v and re.search(r"(PASS|FAIL) \(\d+ of \d+ pass\)", v), v
    flags = page.locator(".mlops-fairness-groups .mlops-flag").all_inner_texts()
    assert bool(flags) == (four_fifths(feats[0]) < 0.8), flags
    shoot(page, artifacts, "fairness")
    if len(feats) > 1:
        table0, plot0 = page.locator(".mlops-fairness-groups").inner_text(), img_src(page, ".mlops-fairness-plot")
        choose(page, ".mlops-fairness-feature", 1)
        wait_changed(page, ".mlops-fairness-groups", "text", table0)
        wait_changed(page, ".mlops-fairness-plot", "src", plot0)
        assert {k: v.replace(",", "") for k, v in groups_shown().items()} == groups_expected(feats[1])
        flags = page.locator(".mlops-fairness-groups .mlops-flag").all_inner_texts()
        assert bool(flags) == (four_fifths(feats[1]) < 0.8), flags
        if flags: assert f"{four_fifths(feats[1]):.3f}× as often" in flags[0] and "four-fifths rule" in flags[0], flags
        shoot(page, artifacts, f"fairness-{feats[1]}")


def test_drift_columns_and_distribution(project, alice, page, artifacts):
    panel = open_page(page, alice, "drift")
    path = project / "reports" / "drift" / "drift.json"
    if not path.exists():  # a pipeline without the drift stage: one clear line, no traceback
        err = panel.locator(".mlops-error").first.inner_text()
        assert "reports/drift/drift.json" in err and "Traceback" not in panel.inner_text()
        shoot(page, artifacts, "drift")
        pytest.skip("the demo pipeline has no drift stage yet: checked the page says so")
    d = json.loads(path.read_text())
    hist = [json.loads(l) for l in (project / "monitoring" / "history.jsonl").read_text().splitlines()]
    last = hist[-1]
    head = page.locator(".mlops-drift-headline")
    assert last["batch"] in head.inner_text()  # the latest monitored batch is the headline
    level = head.locator(".mlops-drift-verdict").get_attribute("class")
    assert ("mlops-status-alert" in level) == bool(last["retrain_recommended"]), (level, last["retrain_recommended"])
    assert ("Retraining recommended" in head.inner_text()) == bool(last["retrain_recommended"])
    img_src(page, ".mlops-drift-history-plot")  # the trend across batches
    shoot(page, artifacts, "drift")
    batches = options(page, ".mlops-drift-batch")
    assert len(batches) == len(hist) + 1 and last["batch"] in batches[0] and "pipeline check" in batches[-1], batches
    assert sum(", served " in b for b in batches) == 1, batches  # the window `monitor --from-log` cut from the prediction log
    head0 = head.inner_text()
    choose(page, ".mlops-drift-batch", len(batches) - 1)  # the pipeline's train -> test check
    wait_changed(page, ".mlops-drift-headline", "text", head0)
    verdict = panel.locator(".mlops-drift-verdict").inner_text() + panel.locator(".mlops-drift-scope").inner_text()
    assert f"{d['n_drifted']} of {d['n_columns']} columns drifted" in verdict
    assert ("YES" if d["dataset_drift"] else "NO") in verdict
    shown = [r.split("\t")[0] for r in page.locator(".mlops-drift-table tbody tr").all_inner_texts()]
    assert sorted(shown) == sorted(c["column"] for c in d["columns"])
    # choose a column -> its distribution plot and line
    cols = options(page, ".mlops-drift-column")
    hist0, info0 = img_src(page, ".mlops-drift-hist"), page.locator(".mlops-drift-column-info").inner_text()
    choose(page, ".mlops-drift-column", 1)
    wait_changed(page, ".mlops-drift-hist", "src", hist0)
    # sort the table by column name
    names = options(page, ".mlops-drift-sort")
    choose(page, ".mlops-drift-sort", names.index("column name"))
    page.wait_for_function("() => { const rows = [...document.querySelectorAll('.mlops-drift-table tbody tr')]"
                           ".map(r => r.cells[0].innerText); return rows.join() === [...rows].sort().join(); }", timeout=WAIT)


def test_promote_challenger_as_alice(project, alice, page, artifacts):
    before = aliases(project)
    audit = project / "audit" / "audit.jsonl"
    n_audit = len(audit.read_text().splitlines()) if audit.exists() else 0
    open_page(page, alice, "registry")
    promote = page.locator("button.mlops-promote-btn")
    assert promote.is_disabled()  # no comment yet
    comment = f"browser test: v{before['challenger']} passes every gate"
    page.locator(".mlops-comment textarea").fill(comment)
    page.wait_for_function("() => !document.querySelector('button.mlops-promote-btn').disabled", timeout=WAIT)
    promote.click()
    ok = page.locator(".mlops-action-status .mlops-ok")
    ok.wait_for(state="visible", timeout=WAIT)
    assert f"promote: version {before['challenger']}" in ok.inner_text() and "alice" in ok.inner_text()
    page.wait_for_function(f"() => document.querySelector('.mlops-champion-line').innerText.includes('Champion: v{before['challenger']}')",
                           timeout=WAIT)
    header = page.locator(".mlops-header-box").inner_text()
    assert f"champion v{before['challenger']}" in header and f"champion v{before['champion']}" not in header, header
    chosen = page.locator(".mlops-challenger-select select option:checked").inner_text()
    assert not chosen.startswith(f"v{before['challenger']} "), chosen  # never the new champion against itself
    heads = page.locator(".mlops-metrics-table thead").inner_text()
    assert f"champion v{before['challenger']}" in heads and f"challenger v{before['challenger']}" not in heads, heads
    shoot(page, artifacts, "registry-promoted")
    # the registry and the audit log agree with the page
    assert aliases(project)["champion"] == before["challenger"]
    shown = B.run(["mlops-nb", "models", "show", "", before["challenger"]], project).stdout
    assert "champion" in shown
    B.run(["mlops-nb", "audit", "verify"], project)
    entries = [json.loads(l) for l in audit.read_text().splitlines()]
    assert len(entries) == n_audit + 1
    e = entries[-1]
    assert (e["action"], e["version"], e["user"], e["role"], e["comment"], e["outcome"]) == \
        ("promote", before["challenger"], "alice", "approver", comment, "done"), e
    assert e["artifact_sha256"] and e["gate_verdict"] == "passed", e
    assert str(e["previous_version"]) == before["champion"]


# ---------------------------------------------------------------- as a viewer

def test_viewer_cannot_act(project, artifacts, page):
    with serve(project, artifacts, "viewer", "--pool-size", "0", MLOPS_NB_USER="eve") as eve:  # one page: no pool
        open_page(page, eve, "registry")
        ident = page.locator(".mlops-identity").inner_text()
        assert "eve" in ident and "viewer" in ident and "view only" in ident
        page.locator(".mlops-comment textarea").fill("I would like to promote this")
        page.wait_for_timeout(500)  # the comment reaches the kernel, buttons are re-evaluated
        for b in ("promote", "rollback", "retire"):
            btn = page.locator(f"button.mlops-{b}-btn")
            assert btn.is_disabled(), b
            assert "may not" in (btn.get_attribute("title") or ""), btn.get_attribute("title")
            assert btn.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(234, 238, 242)"  # grey, not the approver's green
        why = page.locator(".mlops-why-disabled").inner_text()
        assert "needs approver or higher" in why and "Approve & promote" in why, why
        shoot(page, artifacts, "registry-viewer")


# ---------------------------------------------------------------- static reports, offline

def test_static_reports_open_offline(project, page, artifacts):
    """Every HTML report a stakeholder may be sent (the static dashboards, the stage reports, each monitored batch's drift
    report, the model card) opens in chromium with the network blocked: no request leaves the file, none fails, no
    console error, no stderr box."""
    out = project / "reports" / "dashboards"
    B.run(["mlops-nb", "report", "--html", "--out", str(out)], project)
    B.run(["mlops-nb", "models", "card", "", aliases(project)["champion"], "--out", str(project / "reports" / "cards" / "offline")], project)
    files = sorted([*out.glob("*.html"), *(project / "reports" / "html").glob("*.html"),
                    *(project / "monitoring" / "reports").glob("*/drift.html"), *(project / "reports" / "cards" / "offline").glob("*.html")])
    assert len(files) >= 5 + 2 + 1, files
    left, failed, console = [], [], []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else (left.append(r.request.url), r.abort()))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    for f in files:
        page.goto(f.as_uri(), wait_until="load", timeout=WAIT)
        assert not (left or failed or console), (f, left, failed, console)
        assert page.locator("[data-mime-type='application/vnd.jupyter.stderr'], .output_stderr").count() == 0, f
        assert "Traceback" not in page.inner_text("body"), f
    page.goto((out / "drift.html").as_uri())
    last = json.loads((project / "monitoring" / "history.jsonl").read_text().splitlines()[-1])
    assert last["batch"] in page.locator(".mlops-drift-scope").first.inner_text()  # the latest batch is the headline here too
    page.goto((project / "monitoring" / "reports" / last["batch"] / "drift.html").as_uri())  # `mlops-nb monitor`'s own report
    color = page.locator("h1 + p").evaluate("e => getComputedStyle(e).color")
    assert (color == "rgb(207, 34, 46)") == bool(last["retrain_recommended"]), color  # red exactly when retraining is recommended
    page.goto((out / "fairness.html").as_uri())
    assert page.locator(".mlops-fairness-table").first.inner_text().count("(") >= 2  # labelled groups: "Male (1)"
    B.save_screenshot(page, artifacts / "static-fairness.png")  # an artifact, not a README picture
