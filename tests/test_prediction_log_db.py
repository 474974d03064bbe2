"""The prediction log in team mode (issue 17, point 2): settings.ini [serve] prediction_log names a PostgreSQL database
and every server writes one table. The tests marked `server` need the database that tools/team_server.sh creates
(MLOPS_NB_TEST_PG_URI; .ci/run starts it) and are skipped without it; the errors need no server."""
import configparser, json, os, socket, threading, uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import copy_built

PG = os.environ.get("MLOPS_NB_TEST_PG_URI")
needs_pg = pytest.mark.skipif(not PG, reason="MLOPS_NB_TEST_PG_URI is not set: run tools/team_server.sh start (.ci/run does)")
PARAMS = "data: {path: d.csv, target: y, numeric: [x1, x2], categorical: [group], id: [id], time: period}\n"


@pytest.fixture(autouse=True)
def _settings_from_files(monkeypatch):
    "Each test project says where its log is in its own settings.ini, whatever the shell exports."
    for var in ("MLOPS_NB_SERVE_PREDICTION_LOG", "MLOPS_NB_PROJECT_NAME"): monkeypatch.delenv(var, raising=False)


def _project(path: Path, log: str = "", name: str | None = None) -> Path:
    "A folder with what the log's readers need: params.yaml, and settings.ini naming the log's database (or none: files)."
    path.mkdir(parents=True, exist_ok=True)
    (path / "params.yaml").write_text(PARAMS)
    (path / "settings.ini").write_text(f"[project]\nname = {name or 'p-' + uuid.uuid4().hex[:12]}\n"
                                       + (f"[serve]\nprediction_log = {log}\n" if log else ""))
    return path


def _closed_port() -> int:
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0)); return sk.getsockname()[1]  # nothing listens once it is closed


def _batches(n_batches: int, rows: int, tag: str, seed: int = 0) -> list:
    "Log rows as `serve` makes them (`log_rows`), `n_batches` requests of `rows` rows a second apart; missing values included."
    from mlops_nb.config import parse_params
    from mlops_nb.prediction_log import log_rows
    from mlops_nb.serve import ServedModel
    params = parse_params({"data": {"path": "d.csv", "target": "y", "numeric": ["x1", "x2"], "categorical": ["group"],
                                    "id": ["id"], "time": "period"}})
    served = ServedModel(None, "m", "1", "run", None, ["x1", "x2", "group"], "")
    rng, out = np.random.default_rng(seed), []
    for b in range(n_batches):
        df = pd.DataFrame({"id": [f"{tag}-{b}-{i}" for i in range(rows)], "x1": rng.normal(size=rows),
                           "x2": rng.normal(size=rows), "group": rng.choice(["a", "b"], rows)})
        df.loc[0, "x2"] = np.nan; df.loc[rows - 1, "group"] = None
        score = rng.uniform(size=rows)
        scored = pd.DataFrame({"score": score, "prediction": (score >= 0.5).astype(int)})
        logged = log_rows(df, scored, served, params, f"{tag}-{b}", "serve")
        for r in logged: r["time"] = f"2026-11-30T10:{b // 60:02d}:{b % 60:02d}.000+00:00"  # a second apart: windows cut between them
        out.append(logged)
    return out


@pytest.mark.parametrize("where", ["settings.ini", "env"])
def test_a_password_in_the_url_is_refused_and_never_shown(tmp_path, monkeypatch, capsys, where):
    from mlops_nb.cli import main
    from mlops_nb.core import ConfigError
    from mlops_nb.prediction_log import open_log
    url = "postgresql+psycopg2://svc:hunter2@db.internal:5432/mlops"
    if where == "env": root = _project(tmp_path); monkeypatch.setenv("MLOPS_NB_SERVE_PREDICTION_LOG", url)
    else: root = _project(tmp_path, url)
    with pytest.raises(ConfigError) as e: open_log(root)
    key = "MLOPS_NB_SERVE_PREDICTION_LOG" if where == "env" else "settings.ini: [serve] prediction_log"
    assert key in str(e.value) and "svc:***@db.internal" in str(e.value) and "PGPASSWORD variable or ~/.pgpass" in str(e.value), str(e.value)
    assert main(["monitor", "--from-log", "--root", str(root)]) == 2
    out = capsys.readouterr()
    assert key.split(": ")[-1] in out.err and "hunter2" not in str(e.value) + out.out + out.err


def test_an_unreachable_database_or_a_missing_driver_is_named(tmp_path, monkeypatch, capsys):
    from mlops_nb.cli import main
    from mlops_nb.core import MlopsError
    from mlops_nb.prediction_log import open_log
    url = f"postgresql+psycopg2://svc@127.0.0.1:{_closed_port()}/mlops"
    root = _project(tmp_path / "p", url)
    with pytest.raises(MlopsError, match="could not be used") as e: open_log(root)
    assert f"{url} (settings.ini [serve] prediction_log)" in str(e.value) and "Connection refused" in str(e.value)
    (tmp_path / "outcomes.csv").write_text("id,y\na,1\n")
    assert main(["labels", "add", str(tmp_path / "outcomes.csv"), "--key", "id", "--root", str(root)]) == 2
    assert url in capsys.readouterr().err and not (root / "monitoring/labels").exists()
    monkeypatch.setitem(__import__("sys").modules, "psycopg2", None)  # the driver not installed
    root = _project(tmp_path / "q", f"postgresql://svc@127.0.0.1:{_closed_port()}/other")
    with pytest.raises(MlopsError, match=r"needs the PostgreSQL driver .*pip install 'mlops_nb\[team\]'"): open_log(root)


@pytest.mark.server
@needs_pg
def test_two_servers_write_one_table_and_every_row_comes_back_once(tmp_path):
    "Two writers (two servers) append concurrently, a transaction per request; another project's rows stay apart."
    from mlops_nb.prediction_log import open_log, read_log
    root = _project(tmp_path / "p", PG)
    other = _project(tmp_path / "other", PG)
    open_log(other).append(_batches(1, 5, "other")[0])
    work = {"s1": _batches(40, 5, "s1", seed=1), "s2": _batches(40, 5, "s2", seed=2)}
    def server(name):
        plog = open_log(root)  # each "server" opens the log as `serve` does
        for rows in work[name]: plog.append(rows)
        plog.close()
    threads = [threading.Thread(target=server, args=(n,)) for n in work]
    for t in threads: t.start()
    for t in threads: t.join()
    log = read_log(root)
    want = sorted((r["request_id"], r["row"]) for batches in work.values() for rows in batches for r in rows)
    assert sorted(zip(log["request_id"], log["row"])) == want and len(log) == 400
    assert set(read_log(other)["request_id"]) == {"other-0"}
    assert not (root / "monitoring").exists(), "nothing written to files"


@pytest.mark.server
@needs_pg
def test_the_table_gives_the_frames_the_files_give(tmp_path):
    "The same rows and outcomes in the files and in the table: the same log, labels, joined window and exported batch."
    from mlops_nb.prediction_log import add_labels, export_window, log_window, open_log, read_labels, read_log
    files, table = _project(tmp_path / "files"), _project(tmp_path / "table", PG)
    batches = _batches(6, 4, "r")
    for root in (files, table):
        plog = open_log(root)
        for rows in batches: plog.append(rows)
        plog.close()
    assert list((files / "monitoring/predictions").glob("date=*/*.parquet")) and not (table / "monitoring/predictions").exists()
    pd.DataFrame({"id": ["r-0-1", "r-2-3", "r-5-0", "nobody"], "y": [1, 0, 1, 0]}).to_csv(tmp_path / "y1.csv", index=False)
    pd.DataFrame({"id": ["r-2-3"], "y": [1]}).to_csv(tmp_path / "y2.csv", index=False)  # a later outcome wins
    for root in (files, table):
        r = add_labels(root, tmp_path / "y1.csv", "id")
        assert (r["rows"], r["matched"], r["unmatched"]) == (4, 3, 1)
        add_labels(root, tmp_path / "y2.csv", "id")
    got = {root: read_log(root) for root in (files, table)}
    assert len(got[table]) == 24 and got[table]["x2"].isna().sum() == 6 and got[table]["group"].isna().sum() == 6
    pd.testing.assert_frame_equal(got[table], got[files])
    pd.testing.assert_frame_equal(read_labels(table).drop(columns="added"), read_labels(files).drop(columns="added"))
    t = got[files]["time"]
    since, until = t.iloc[4], t.iloc[20]  # a window inside the log
    w = {root: log_window(root, since, until) for root in (files, table)}
    pd.testing.assert_frame_equal(w[table], w[files])
    assert log_window(table).set_index("id")["y"].dropna().to_dict() == {"r-0-1": 1, "r-2-3": 1, "r-5-0": 1}
    (f, fspan), (tb, tspan) = export_window(files, since), export_window(table, since)
    assert fspan == tspan and f.name == tb.name
    pd.testing.assert_frame_equal(pd.read_parquet(tb), pd.read_parquet(f))
    assert pd.read_parquet(tb)["y"].notna().sum() == 2


@pytest.mark.slow
@pytest.mark.server
@needs_pg
def test_predict_logs_to_the_table_and_monitor_reads_it(built_demo, tmp_path, capsys):
    "The demo with its settings.ini pointed at the database: `predict` logs there, `labels add` and `monitor --from-log` read it."
    import mlflow
    from mlops_nb.cli import main
    from mlops_nb.config import load_settings
    from mlops_nb.prediction_log import read_log
    root = copy_built(built_demo, tmp_path)
    name = f"demo-{uuid.uuid4().hex[:12]}"
    ini = configparser.ConfigParser(interpolation=None); ini.read(root / "settings.ini")
    ini["project"]["name"], ini["serve"] = name, {"prediction_log": PG}  # a project of its own in the shared database
    with open(root / "settings.ini", "w") as f: ini.write(f)
    s = load_settings(root / "settings.ini")
    assert (s.project.name, s.serve.prediction_log) == (name, PG)
    mlflow.MlflowClient(s.tracking_uri, s.registry_uri).set_registered_model_alias(s.mlflow.model_name, "champion", "1")
    test = pd.read_parquet(root / "data/prepared/test.parquet").sample(300, random_state=0).reset_index(drop=True)
    test.drop(columns=["employed"]).to_parquet(tmp_path / "batch.parquet", index=False)
    assert main(["predict", str(tmp_path / "batch.parquet"), "--out", str(tmp_path / "scored.csv"), "--root", str(root)]) == 0
    assert not (root / "monitoring/predictions").exists(), "the rows went to the table, not to files"
    log = read_log(root)
    assert len(log) == 300 and set(log["id"]) == set(test["id"]) and set(log["model_version"]) == {"1"}
    test[["id", "employed"]].head(200).to_csv(tmp_path / "outcomes.csv", index=False)
    assert main(["labels", "add", str(tmp_path / "outcomes.csv"), "--key", "id", "--root", str(root)]) == 0
    assert "200 match a logged prediction" in capsys.readouterr().out
    assert main(["monitor", "--from-log", "--root", str(root)]) in (0, 1)
    last = json.loads((root / "monitoring/history.jsonl").read_text().splitlines()[-1])
    assert last["rows"] == 300 and last["performance"]["n_labelled"] == 200
