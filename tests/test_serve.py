"""Serving @champion (issue 17): the HTTP service, the prediction log, batch scoring, the hot swap.

One small built project (conftest `fair_built`) is copied; its version 1 is made champion and the
same run is registered again as version 2, so a swap is visible in every answer's model_version.
The service is the real `mlops-nb serve` process on 127.0.0.1, stopped by each test."""
import io, json, os, signal, socket, subprocess, sys, threading, time, urllib.error, urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, clean_env, copy_built

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served_project(fair_built, tmp_path_factory):
    "A copy of the small project with version 1 @champion and the same run registered again as version 2."
    import mlflow
    from mlops_nb.config import load_settings
    from mlops_nb.integrity import seal_version
    from mlops_nb.tracking import LoggedRun, connect, register_version
    root = copy_built(fair_built, tmp_path_factory.mktemp("serve"), "p")
    s = load_settings(root / "settings.ini"); connect(s)
    c = mlflow.MlflowClient(s.tracking_uri, s.registry_uri)
    v1 = c.get_model_version(s.mlflow.model_name, "1")
    info = json.loads((root / "models/model.json").read_text())
    register_version(s, LoggedRun(info["run_id"], info["experiment_id"], info["model_uri"], info["model_id"]), "passed", alias="spare")
    seal_version(s, "2", s.mlflow.model_name)
    # serving reads where @champion points; how it got there (promote, with its roles and audit) is the registry's business
    c.set_registered_model_alias(s.mlflow.model_name, "champion", v1.version)
    return root


def _port() -> int:
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0)); return sk.getsockname()[1]


class Server:
    def __init__(self, root: Path, reload_seconds=0.5, *extra):
        self.port = _port(); self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(["mlops-nb", "serve", "--root", str(root), "--port", str(self.port),
                                      "--reload-seconds", str(reload_seconds), *extra], env=clean_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None: raise RuntimeError(f"serve exited: {self.proc.stdout.read()}")
            try:
                if self.get("/health")["status"] == "ok": return
            except OSError: time.sleep(0.3)
        self.stop(); raise RuntimeError("serve did not answer /health within 120 s")

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as r: return json.loads(r.read())

    def post(self, body: bytes, content_type="application/json"):
        "(status, answer)"
        req = urllib.request.Request(self.url + "/predict", body, {"Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=60) as r: return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e: return e.code, json.loads(e.read())

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try: self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()


@pytest.fixture
def server(served_project):
    srv = Server(served_project)
    yield srv
    srv.stop()


def _rows(root, n=5, seed=0):
    df = pd.read_parquet(root / "data/prepared/test.parquet").drop(columns=["y"])
    return df.sample(n, random_state=seed).reset_index(drop=True)


def _expected_scores(root, df):
    from mlops_nb.config import load_params, load_settings
    from mlops_nb.serve import load_served, score_frame
    from mlops_nb.tracking import connect
    p, s = load_params(root / "params.yaml"), load_settings(root / "settings.ini"); connect(s)
    return score_frame(load_served(s, p), df, p)


def test_serve_answers_json_csv_and_parquet_and_logs_every_row(served_project, server):
    from mlops_nb.prediction_log import read_log
    df = _rows(served_project, 7)
    want = _expected_scores(served_project, df)
    answers = [server.post(df.to_json(orient="records", double_precision=15).encode()),
               server.post(json.dumps({"records": json.loads(df.to_json(orient="records", double_precision=15))}).encode()),
               server.post(df.to_csv(index=False).encode(), "text/csv"),
               server.post(df.to_parquet(index=False), "application/vnd.apache.parquet")]
    for status, a in answers:
        assert status == 200 and a["model_version"] == "1" and len(a["request_id"]) == 32
        np.testing.assert_allclose([p["score"] for p in a["predictions"]], want["score"], rtol=1e-9)
        assert [p["prediction"] for p in a["predictions"]] == want["prediction"].tolist()
    v = server.get("/version")
    assert (v["version"], v["alias"], v["task"]) == ("1", "champion", "classification") and len(v["sha256"]) == 64
    from mlops_nb.panels import index_panel
    from mlops_nb.results import read_result
    from mlops_nb.serve import server_name
    # each server writes its own monitoring/serving/HOST-PORT.json every --reload-seconds (the index's "Live" line)
    status = served_project / "monitoring/serving" / f"{server_name(server.port)}.json"
    deadline = time.time() + 60
    def mine(): return (lambda d: d if d["pid"] == server.proc.pid else {"requests": 0})(json.loads(status.read_text()))
    while mine()["requests"] < 4 and time.time() < deadline: time.sleep(0.2)
    live = mine()
    assert (live["version"], live["requests"], live["refused"], live["stopped"]) == ("1", 4, 0, None) and live["p99_ms"] > 0
    assert live["address"] == f"127.0.0.1:{server.port}" and server_name(server.port) in [s["server"] for s in read_result(served_project, "serving")]
    assert "Live: v1</b> (@champion)" in index_panel(served_project).children[1].value
    busy = subprocess.run(["mlops-nb", "serve", "--root", str(served_project), "--port", str(server.port)], env=clean_env(),
                          capture_output=True, text=True, timeout=120)  # a second server on the same port: refused at once
    assert busy.returncode == 2 and f"cannot listen on 127.0.0.1:{server.port}: the port is in use" in busy.stderr, busy.stderr
    assert json.loads(status.read_text())["pid"] == server.proc.pid  # and the running server's status file is still its own
    server.stop()  # a clean stop compacts the log into Parquet
    assert json.loads(status.read_text())["stopped"]
    assert f"Not served: the service of v1 on 127.0.0.1:{server.port} stopped" in index_panel(served_project).children[1].value
    log = read_log(served_project)
    mine = log[log.request_id.isin([a["request_id"] for _, a in answers])]
    assert len(mine) == 4 * len(df) and set(mine.model_version) == {"1"}
    assert {"x1", "x2", "group", "score", "prediction", "time", "row"} <= set(mine.columns)
    assert not list((served_project / "monitoring/predictions").glob("wal-*")), "a clean stop leaves no write-ahead file"


@pytest.mark.parametrize("body, ctype, status, message", [
    (b'[{"x1": 0.5}]', "application/json", 422, "lacks column(s) 'x2', 'group'"),
    (b'[{"x1": 1e9, "x2": 0.1, "group": "a"}]', "application/json", 422, "row 0: x1: outside"),
    (b'[{"x1": null, "x2": 0.1, "group": "a"}]', "application/json", 422, "row 0: x1: missing value"),
    (b'{"x1": 1', "application/json", 400, "not valid application/json"),
    (b'{"rows": []}', "application/json", 400, 'a list of records, or {"records": [...]}'),
    (b'[]', "application/json", 422, "no rows"),
    (b'x1,x2\n', "text/plain", 415, "unsupported Content-Type 'text/plain'"),
])
def test_bad_requests_get_a_4xx_that_names_the_problem(server, body, ctype, status, message):
    got, a = server.post(body, ctype)
    assert got == status and message in a["error"] and a["request_id"], a


def test_a_killed_server_loses_no_answered_row(served_project):
    """kill -9 in the middle of concurrent traffic: the restarted server replays the dead one's write-ahead file; every
    request that got an answer is in the log, each row once."""
    from mlops_nb.prediction_log import read_log
    log_dir = served_project / "monitoring/predictions"
    srv = Server(served_project, reload_seconds=3600)  # no compaction during the test: the rows sit in the write-ahead file
    df = _rows(served_project, 3, seed=1)
    body = df.to_json(orient="records", double_precision=15).encode()
    answered, stop = [], threading.Event()
    def client():
        while not stop.is_set():
            try: status, a = srv.post(body)
            except OSError: return  # the server is gone
            if status == 200: answered.append(a["request_id"])
    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads: t.start()
    while len(answered) < 300: time.sleep(0.05)
    srv.proc.send_signal(signal.SIGKILL); srv.proc.wait()
    stop.set()
    for t in threads: t.join()
    assert list(log_dir.glob("wal-*.jsonl")), "the killed server's rows are in its write-ahead file"
    again = Server(served_project, reload_seconds=3600)  # opening the log compacts what the dead process left
    try:
        assert again.post(body)[0] == 200
        from mlops_nb.dashboard_data import live_status
        from mlops_nb.serve import server_name
        from mlops_nb.views_registry import live_html
        live = {s["server"]: s["state"] for s in live_status(served_project)["serving"]}  # one status file each
        assert (live[server_name(srv.port)], live[server_name(again.port)]) == ("gone", "live"), live
        html = live_html(live_status(served_project))
        assert "<b>Live: v1</b>" in html and f"on 127.0.0.1:{srv.port} (pid {srv.proc.pid}) no longer runs (killed?)" in html, html
    finally: again.stop()
    assert not list(log_dir.glob("wal-*")), "replayed and compacted: no write-ahead file left"
    log = read_log(served_project)
    assert set(answered) <= set(log.request_id), f"{len(set(answered) - set(log.request_id))} answered requests lost"
    counts = log[log.request_id.isin(answered)].groupby("request_id").size()
    assert (counts == len(df)).all()
    stored = pd.concat([pd.read_parquet(f) for f in log_dir.glob("date=*/*.parquet")])  # the files, not read_log's view
    assert not stored.duplicated(["request_id", "row"]).any(), "a row was written twice"


def test_champion_moves_under_load_without_a_dropped_request(served_project):
    import mlflow
    from mlops_nb.config import load_settings
    from mlops_nb.prediction_log import read_log
    s = load_settings(served_project / "settings.ini")
    c = mlflow.MlflowClient(s.tracking_uri, s.registry_uri)
    c.set_registered_model_alias(s.mlflow.model_name, "champion", "1")
    srv = Server(served_project, reload_seconds=0.3)
    body = _rows(served_project, 2, seed=2).to_json(orient="records", double_precision=15).encode()
    seen, errors, stop = [], [], threading.Event()
    def client(k):
        while not stop.is_set():
            status, a = srv.post(body)
            (seen if status == 200 else errors).append((k, a.get("model_version"), a.get("request_id"), time.time()))
    threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
    try:
        for t in threads: t.start()
        time.sleep(2)
        c.set_registered_model_alias(s.mlflow.model_name, "champion", "2")
        deadline = time.time() + 60
        while time.time() < deadline and not any(v == "2" for _, v, _, _ in seen[-5:]): time.sleep(0.1)
        time.sleep(1)
    finally:
        stop.set()
        for t in threads: t.join()
        assert srv.get("/version")["version"] == "2"
        srv.stop()
    assert not errors, errors[:3]
    for k in range(3):  # each client sees 1 ... 1 2 ... 2: the swap happens once and never goes back
        vs = [v for kk, v, _, _ in seen if kk == k]
        assert vs[0] == "1" and vs[-1] == "2" and vs == sorted(vs), vs
    log = read_log(served_project).drop_duplicates("request_id").set_index("request_id")["model_version"]
    assert all(log[rid] == v for _, v, rid, _ in seen), "each logged row names the version that answered"


def test_predict_file_in_chunks_refuses_bad_rows_and_logs(served_project, tmp_path):
    from mlops_nb.batch_scoring import predict_file
    from mlops_nb.prediction_log import read_log
    df = _rows(served_project, 250, seed=3)
    df.loc[7, "x1"] = 1e9  # outside the contract's range: refused, with the reason
    src = tmp_path / "batch.csv"; df.to_csv(src, index=False)
    before = len(read_log(served_project))
    for out in (tmp_path / "scored.parquet", tmp_path / "scored.csv"):
        r = predict_file(served_project, src, out, chunk_rows=60, progress=False)
        assert (r["rows"], r["scored"], r["refused"], r["model_version"]) == (250, 249, 1, r["model_version"])
        got = pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)
        assert got["row"].tolist() == list(range(250))
        assert got.loc[7, "problem"].startswith("x1: outside") and np.isnan(got.loc[7, "score"])
        ok = got.drop(index=7)
        want = _expected_scores(served_project, df.drop(index=7))
        np.testing.assert_allclose(ok["score"], want["score"], rtol=1e-9)
        assert ok["prediction"].astype(int).tolist() == want["prediction"].tolist()
    assert len(read_log(served_project)) == before + 2 * 249
    from mlops_nb.results import read_result
    last = read_result(served_project, "last_batch")  # the index's "last batch"
    assert (last["batch"], last["rows"], last["refused"], last["out"]) == (str(src), 250, 1, str(tmp_path / "scored.csv"))


def test_predict_on_a_dask_cluster_gives_the_chunked_output_and_log(served_project, tmp_path):
    "`predict --dask`: a folder of Parquet files and a CSV scored on a local cluster give the chunked path's file and log rows."
    from distributed import LocalCluster
    from mlops_nb.batch_scoring import predict_file
    from mlops_nb.prediction_log import read_log
    df = _rows(served_project, 240, seed=5)
    df.loc[71, "x1"] = 1e9  # refused by the contract, in the second partition
    df.to_parquet(tmp_path / "batch.parquet", index=False); df.to_csv(tmp_path / "batch.csv", index=False)
    (tmp_path / "parts").mkdir()
    for k in range(4): df.iloc[60 * k:60 * (k + 1)].to_parquet(tmp_path / f"parts/part-{k}.parquet", index=False)
    plain = predict_file(served_project, tmp_path / "batch.parquet", tmp_path / "plain.parquet", chunk_rows=50, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:  # in-process: no port
        on_dask = [predict_file(served_project, tmp_path / src, tmp_path / f"dask-{src}.parquet", progress=False,
                                dask=cluster.scheduler_address) for src in ("parts", "batch.csv")]
        from mlops_nb.core import DataError
        df.drop(columns=["x2"]).to_parquet(tmp_path / "parts/part-9.parquet", index=False)  # one file lacks a column
        for src, msg in (("nope.parquet", "data file not found"), ("parts", "x2")):
            with pytest.raises(DataError, match=msg):
                predict_file(served_project, tmp_path / src, tmp_path / "bad.parquet", progress=False, dask=cluster.scheduler_address)
            assert not (tmp_path / "bad.parquet").exists()
    want = pd.read_parquet(tmp_path / "plain.parquet")
    assert (plain["rows"], plain["refused"]) == (240, 1) and want.loc[71, "problem"].startswith("x1: outside")
    log = read_log(served_project)
    def logged(rid): return log[log.request_id == rid].drop(columns=["request_id", "time", "source"]).sort_values("row").reset_index(drop=True)
    assert logged(plain["request_id"])["row"].tolist() == [r for r in range(240) if r != 71], "a log row keeps its file row"
    for r in on_dask:
        assert (r["rows"], r["scored"], r["refused"]) == (plain["rows"], plain["scored"], plain["refused"])
        pd.testing.assert_frame_equal(pd.read_parquet(r["out"]), want)
        pd.testing.assert_frame_equal(logged(r["request_id"]), logged(plain["request_id"]))


def test_predict_refuses_a_bad_output_name_and_a_batch_without_a_column(served_project, tmp_path, capsys):
    from mlops_nb.cli import main
    src = tmp_path / "b.csv"; _rows(served_project, 3).to_csv(src, index=False)
    assert main(["predict", str(src), "--out", str(tmp_path / "x.xlsx"), "--root", str(served_project)]) == 2
    assert not (tmp_path / "x.xlsx").exists()
    _rows(served_project, 3).drop(columns=["x2"]).to_csv(src, index=False)  # the error names the file, not "the request"
    assert main(["predict", str(src), "--out", str(tmp_path / "x.csv"), "--root", str(served_project)]) == 2
    assert f"mlops-nb: {src}: the batch lacks column(s) 'x2'" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()


def test_shadow_labels_and_monitoring_what_was_served(fair_built, tmp_path):
    """serve --shadow challenger: answers are the champion's, the challenger's scores are logged; outcomes joined later by
    key; the shadow report compares both on the labelled live rows; `monitor --from-log` monitors the served window."""
    import mlflow
    from sklearn.linear_model import LogisticRegression
    from mlops_nb import model as M
    from mlops_nb.cli import main
    from mlops_nb.config import load_params, load_settings
    from mlops_nb.integrity import seal_version
    from mlops_nb.serve import load_served, score_frame, shadow_report
    from mlops_nb.prediction_log import read_log
    from mlops_nb.stages import save_model, training_data
    from mlops_nb.tracking import LoggedRun, register_version
    root = copy_built(fair_built, tmp_path, "p")
    s, params = load_settings(root / "settings.ini"), load_params(root / "params.yaml")
    c = mlflow.MlflowClient(s.tracking_uri, s.registry_uri)
    c.set_registered_model_alias(s.mlflow.model_name, "champion", "1")
    X, y = training_data(root)  # a different challenger: a weak model on the same columns
    weak = M.build_model(LogisticRegression(C=1e-4), params.data.numeric, params.data.categorical).fit(X, y)
    info = save_model(weak, X, y, root)
    reg = register_version(s, LoggedRun(info["run_id"], info["experiment_id"], info["model_uri"], info["model_id"]), "passed")
    seal_version(s, reg.version, s.mlflow.model_name)
    assert reg.alias == "challenger" and reg.version == "2"

    srv = Server(root, 10, "--shadow", "challenger")
    assert srv.get("/version")["shadow"]["version"] == "2"
    test = pd.read_parquet(root / "data/prepared/test.parquet").sample(60, random_state=4).reset_index(drop=True)
    rids = []
    try:
        for i in range(len(test)):
            status, a = srv.post(test.drop(columns=["y"]).iloc[[i]].to_json(orient="records", double_precision=15).encode())
            assert status == 200 and a["model_version"] == "1" and set(a["predictions"][0]) == {"row", "prediction", "score"}
            rids.append(a["request_id"])
    finally: srv.stop()
    champ, chall = load_served(s, params, "1"), load_served(s, params, "2")
    want_c, want_s = score_frame(champ, test, params), score_frame(chall, test, params)
    log = read_log(root).set_index("request_id").loc[rids]
    np.testing.assert_allclose(log["score"], want_c["score"], rtol=1e-9)
    np.testing.assert_allclose(log["shadow_score"], want_s["score"], rtol=1e-9)
    assert set(log["shadow_version"]) == {"2"}

    labels = pd.DataFrame({"request_id": rids[:40], "y": test["y"][:40]})
    labels.to_csv(tmp_path / "outcomes.csv", index=False)
    assert main(["labels", "add", str(tmp_path / "outcomes.csv"), "--key", "rid", "--root", str(root)]) == 2  # names the column
    assert main(["labels", "add", str(tmp_path / "outcomes.csv"), "--key", "request_id", "--root", str(root)]) == 0

    r = shadow_report(root)
    agree = float((want_c["prediction"] == want_s["prediction"]).mean())
    assert (r["rows"], r["labelled"], r["shadow_versions"]) == (60, 40, ["2"]) and r["agreement"] == pytest.approx(agree)
    from sklearn.metrics import roc_auc_score
    assert r["champion_metrics"]["roc_auc"] == pytest.approx(roc_auc_score(test["y"][:40], want_c["score"][:40]))
    assert r["shadow_metrics"]["roc_auc"] == pytest.approx(roc_auc_score(test["y"][:40], want_s["score"][:40]))

    assert main(["monitor", "--from-log", "some.csv", "--root", str(root)]) == 2  # a file or the log, not both
    code = main(["monitor", "--from-log", "--since", "2000-01-01", "--root", str(root)])
    assert code in (0, 1)
    last = json.loads((root / "monitoring/history.jsonl").read_text().splitlines()[-1])
    assert last["rows"] == 60 and last["performance"]["n_labelled"] == 40
    from mlops_nb.panels import _batch_option
    from mlops_nb.prediction_log import LOG_WINDOW
    logged = read_log(root)["time"]  # the drift page names the batch by the logged window it covers
    assert last["window"] == {"column": LOG_WINDOW, "start": logged.min(), "end": logged.max()}
    assert ", served " in _batch_option(last)
    assert last["performance"]["roc_auc"] == pytest.approx(roc_auc_score(test["y"][:40], want_c["score"][:40]))


def test_requests_scored_together_are_answered_as_if_alone(served_project, tmp_path):
    "The server's micro-batch: good, refused, empty and other-shaped requests in one call each get what they get alone."
    from mlops_nb.config import load_params, load_settings
    from mlops_nb.prediction_log import PredictionLog, read_log
    from mlops_nb.serve import RequestError, answer_requests, load_served
    from mlops_nb.tracking import connect
    root = served_project
    p, s = load_params(root / "params.yaml"), load_settings(root / "settings.ini"); connect(s)
    served = load_served(s, p)
    rows = _rows(root, 6, seed=3)
    bad = rows.iloc[:2].reset_index(drop=True); bad.loc[1, "x1"] = 1e9
    reqs = [(rows.iloc[:2], "a"), (bad, "b"), (rows.iloc[2:4], "c"), (rows.iloc[4:6].assign(note="a column the model ignores"), "d"),
            (rows.iloc[:0], "e")]
    log = PredictionLog(tmp_path)  # not the shared project's log: other tests count its rows
    together = answer_requests(root, reqs, served, p, log)
    alone = [answer_requests(root, [r], served, p)[0] for r in reqs]
    for t, a in zip(together, alone):
        assert type(t) is type(a) and (str(t) == str(a) if isinstance(a, RequestError) else t == a)
    assert "row 1: x1: outside" in str(together[1]) and "no rows" in str(together[4])
    assert [x["score"] for x in together[2]["predictions"]] == pytest.approx(list(_expected_scores(root, rows.iloc[2:4])["score"]), abs=1e-12)
    log.close()
    logged = read_log(tmp_path)
    assert sorted(zip(logged["request_id"], logged["row"])) == [("a", 0), ("a", 1), ("c", 0), ("c", 1), ("d", 0), ("d", 1)]


def test_raw_csv_rows_are_scored_as_at_evaluation(tmp_path, monkeypatch):
    """A CSV whose category codes are numbers (MAR = 1..5, some missing): what `serve` and `predict` score from the raw
    rows equals what the evaluate stage scored on the prepared test split (the bug: prepare kept the codes as numbers,
    requests and batches as text, so the model saw every served code as unknown)."""
    from mlops_nb import stages
    from mlops_nb.cli import main
    from mlops_nb.config import load_params
    from mlops_nb.model import model_columns
    from mlops_nb.serve import ServedModel, check_request, score_frame
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    df = pd.read_parquet(Path(__file__).resolve().parents[1] / "data/raw/acs_employment_ma.parquet").sample(3000, random_state=0)
    df.loc[df.sample(100, random_state=1).index, "MAR"] = np.nan
    df.to_csv(tmp_path / "acs.csv", index=False)
    assert main(["init", str(tmp_path / "p"), "--data", str(tmp_path / "acs.csv"), "--target", "employed",
                 "--time-column", "year", "--id", "id", "--no-git",
                 "--labels", str(REPO / "data/raw/acs_labels.yaml")]) == 0  # codes written as numbers: their labels say so
    root = tmp_path / "p"
    p = load_params(root / "params.yaml")
    assert "MAR" in p.data.categorical
    stages.prepare(root); stages.train(root); stages.evaluate(root)
    assert pd.api.types.is_string_dtype(pd.read_parquet(root / "data/prepared/train.parquet")["MAR"])
    model, info = stages.load_model(root)
    served = ServedModel(model, "p", "1", info["run_id"], None, model_columns(model, p.data.features), "")
    raw = pd.read_csv(tmp_path / "acs.csv")
    raw = raw[raw.year == raw.year.max()].drop(columns=["employed"]).reset_index(drop=True)
    mine = dict(zip(raw["id"], score_frame(served, check_request(root, raw, served, p), p)["score"]))
    test, pred = pd.read_parquet(root / "data/prepared/test.parquet"), pd.read_parquet(root / "data/predictions/test.parquet")
    assert len(test) == len(raw) and max(abs(mine[i] - s) for i, s in zip(test["id"], pred["score"])) < 1e-12
