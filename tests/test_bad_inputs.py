"""Bad inputs: every one must give a clear error, exit status 2 from the CLI, and leave nothing half-written.

End-user paths go through the CLI's own entry point (`cli.main`, what the console script calls) in this
process — a clean environment, the project as working directory, stdout/stderr captured — so a case costs
milliseconds unless it runs a stage notebook; `mlops_console` runs the real console script for the cases that
must cross a process boundary. The rest go through library functions. One small valid project is made once
per module with `mlops-nb init` and copied per test.

"""
from __future__ import annotations
import io, os, re, shutil, subprocess, sys, time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_nb.config import load_params, load_settings, parse_params
from mlops_nb.core import ConfigError, DataError, MlopsError, atomic_write
from mlops_nb.data import check_columns, encode_target, infer_positive, read_table

VENV_BIN = Path(sys.executable).parent
MLOPS_NB = str(VENV_BIN / "mlops-nb")
DEAD_URI = "http://127.0.0.1:9"  # the discard port: nothing listens there


# ---------------------------------------------------------------- helpers

def _env(**extra) -> dict:
    "A clean environment: quiet tools, the venv first on PATH, no inherited tracking or proxy settings."
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MLOPS_NB_") and k != "MLFLOW_TRACKING_URI" and "proxy" not in k.lower()}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", DVC_NO_ANALYTICS="1", MPLBACKEND="Agg",
               PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}")
    env.update(extra)
    return env

def mlops_console(*args, cwd, timeout=300, **env) -> subprocess.CompletedProcess:
    "Run the `mlops-nb` console script in a subprocess."
    return subprocess.run([MLOPS_NB, *map(str, args)], cwd=cwd, env=_env(**env), capture_output=True,
                          text=True, timeout=timeout)

def mlops(*args, cwd, **env) -> subprocess.CompletedProcess:
    "Run `mlops-nb ARGS` in this process through `cli.main` from `cwd`, in the clean environment `_env(**env)`."
    from mlops_nb.cli import main
    saved_env, saved_cwd, clean = dict(os.environ), os.getcwd(), _env(**env)
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear(); os.environ.update(clean); os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            try: code = main([str(a) for a in args])
            except SystemExit as e: code = e.code if isinstance(e.code, int) else 2  # argparse usage errors
    finally:
        os.chdir(saved_cwd); os.environ.clear(); os.environ.update(saved_env)
    return subprocess.CompletedProcess(["mlops-nb", *map(str, args)], code, out.getvalue(), err.getvalue())

def error_message(r: subprocess.CompletedProcess) -> str:
    "Check the CLI failed the way a user error should; return the message after 'mlops-nb: '."
    out = f"--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
    assert r.returncode == 2, f"expected exit status 2, got {r.returncode}\n{out}"
    assert "Traceback (most recent call last)" not in r.stderr, f"a Python traceback reached the user\n{out}"
    lines = r.stderr.splitlines()
    start = [i for i, l in enumerate(lines) if l.startswith("mlops-nb: ")]
    assert start, f"no line on stderr starts with 'mlops-nb: '\n{out}"
    msg = "\n".join(lines[start[0]:])[len("mlops-nb: "):]
    assert len(msg.splitlines()) <= 8, f"error message is not short:\n{msg}"
    return msg

def temp_leftovers(root: Path) -> list[Path]:
    "Temp files of atomic_write (`.NAME.XXXXXXXX.SUFFIX`) anywhere outside .git/.dvc."
    pat = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.(tmp|ipynb|parquet|pkl|csv|json)$")
    return [p for p in Path(root).rglob(".*")
            if p.is_file() and pat.match(p.name) and not {".git", ".dvc"} & set(p.relative_to(root).parts)]

def snapshot(root: Path) -> dict:
    "{relative path: bytes} of every file under root, to prove a folder was left untouched."
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}

def edit_params(root: Path, **sections) -> None:
    "Merge `sections` into the project's params.yaml (section -> {key: value})."
    p = root / "params.yaml"
    params = yaml.safe_load(p.read_text())
    for sec, kv in sections.items(): params.setdefault(sec, {}).update(kv)
    p.write_text(yaml.safe_dump(params, sort_keys=False))

def set_setting(root: Path, key: str, value: str) -> None:
    "Set `key = value` in the [mlflow] section of settings.ini (replacing it if present)."
    p = root / "settings.ini"
    lines, out, in_mlflow, done = p.read_text().splitlines(), [], False, False
    for l in lines:
        if l.startswith("["):
            if in_mlflow and not done: out.append(f"{key} = {value}"); done = True
            in_mlflow = l.strip() == "[mlflow]"
        elif in_mlflow and l.split("=")[0].strip() == key:
            out.append(f"{key} = {value}"); done = True; continue
        out.append(l)
    if not done: out.append(f"{key} = {value}")
    p.write_text("\n".join(out) + "\n")

def make_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"age": rng.integers(18, 80, n), "income": rng.normal(50, 10, n).round(2),
                       "color": rng.choice(["red", "green", "blue"], n), "sex": rng.choice(["F", "M"], n)})
    df["y"] = ((df.income + rng.normal(0, 5, n)) > 50).astype(int)
    return df


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    "One valid project made by `mlops-nb init` (git + DVC + params.yaml + notebooks), shared read-only."
    base = tmp_path_factory.mktemp("template")
    make_frame().to_csv(base / "people.csv", index=False)
    r = mlops("init", "proj", "--data", "people.csv", "--target", "y", "--sensitive", "sex", cwd=base)
    assert r.returncode == 0, r.stderr
    return base / "proj"

@pytest.fixture
def project(template, tmp_path) -> Path:
    "A private copy of the template project."
    dest = tmp_path / "proj"
    shutil.copytree(template, dest, symlinks=True)
    return dest

@pytest.fixture
def csv_dir(tmp_path) -> Path:
    "A working folder for `mlops-nb init` cases, with a valid people.csv."
    d = tmp_path / "work"; d.mkdir()
    make_frame(120).to_csv(d / "people.csv", index=False)
    return d

def assert_no_stage_output(root: Path, stage: str) -> None:
    assert not (root / "reports" / "notebooks" / f"{stage}.ipynb").exists(), f"{stage}.ipynb was written despite the failure"
    assert not temp_leftovers(root), f"temp files left behind: {temp_leftovers(root)}"

def assert_nothing_prepared(root: Path) -> None:
    assert_no_stage_output(root, "prepare")
    for p in ("data/prepared/train.parquet", "data/prepared/test.parquet", "reports/data/prepare.json"):
        assert not (root / p).exists(), f"partial output {p} written"


# ---------------------------------------------------------------- 1. missing data file

def test_prepare_missing_data_file(project):
    edit_params(project, data={"path": "data/raw/nowhere.csv"})
    r = mlops("run-stage", "prepare", cwd=project)
    msg = error_message(r)
    assert "data/raw/nowhere.csv" in msg and "not found" in msg
    assert "data.path" in msg  # says which key to fix
    assert_nothing_prepared(project)

def test_read_table_missing_file_names_path(tmp_path):
    with pytest.raises(DataError, match=r"nowhere\.parquet: data file not found"):
        read_table(tmp_path / "nowhere.parquet")


# ---------------------------------------------------------------- 2. column not in the data

def test_prepare_unknown_columns_listed_with_suggestions(project):
    edit_params(project, data={"numeric": ["age", "incme"], "sensitive": ["gender"], "target": "y"})
    r = mlops("run-stage", "prepare", cwd=project)
    msg = error_message(r)
    assert "stage prepare failed" in msg
    assert "data.numeric[1] = 'incme' is not a column of data/raw/people.csv" in msg
    assert "Did you mean 'income'?" in msg
    assert "data.sensitive[0] = 'gender'" in msg  # every bad column, not just the first
    assert "Columns are: age, income, color, sex, y." in msg
    assert_nothing_prepared(project)

def test_check_columns_target_case_suggestion():
    df = make_frame(20)
    d = parse_params({"data": {"path": "x.csv", "target": "Y", "numeric": ["age"]}}).data
    with pytest.raises(ConfigError) as ei: check_columns(df, d, "x.csv")
    assert "data.target = 'Y' is not a column of x.csv. Did you mean 'y'?" in str(ei.value)
    assert "Columns are: age, income, color, sex, y." in str(ei.value)


# ---------------------------------------------------------------- 3. non-binary target for a classifier

def _three_class_target(project: Path) -> None:
    df = pd.read_csv(project / "data/raw/people.csv")
    df["y"] = df.index % 3
    df.to_csv(project / "data/raw/people.csv", index=False)

def stage_error(stage: str, project: Path) -> str:
    "The message of the MlopsError that the library call behind stage notebook `stage` raises (run-stage shows it as is)."
    from mlops_nb import stages
    with pytest.raises(MlopsError) as ei: getattr(stages, stage)(project)
    return str(ei.value)

def test_prepare_three_class_target_with_positive_set(project):
    _three_class_target(project)
    edit_params(project, data={"positive": 1})
    msg = stage_error("prepare", project)
    assert "target 'y' has 3 distinct values" in msg and "'0', '1', '2'" in msg
    assert "binary classifier needs exactly 2" in msg
    assert "data.task: regression" in msg  # how to fix
    assert_nothing_prepared(project)

def test_prepare_three_class_target_default_positive(project):
    _three_class_target(project)  # params.yaml keeps positive: null, as init writes it
    msg = stage_error("prepare", project)
    assert "binary classifier needs exactly 2" in msg  # holds today
    assert_nothing_prepared(project)                   # holds today
    assert "'y'" in msg, "the target column is not named"
    assert "data.task" in msg or "regression" in msg, "no hint how to fix"

def test_encode_target_three_classes():
    y = pd.Series(["a", "b", "c", "a"], name="label")
    with pytest.raises(DataError, match=r"target 'label' has 3 distinct values.*data\.task: regression"):
        encode_target(y, "a")


# ---------------------------------------------------------------- 4. params.yaml and settings.ini

def test_params_unknown_key_cli(project):
    edit_params(project, train={"estimater": "x"})
    msg = error_message(mlops("run-stage", "prepare", cwd=project))
    assert "params.yaml: unknown key 'train.estimater'." in msg
    assert "Did you mean 'estimator'?" in msg and "Allowed keys here: estimator, hyperparameters, preprocess, mitigation." in msg
    assert_nothing_prepared(project)

def test_params_wrong_type_cli(project):
    edit_params(project, split={"test_size": "big"})
    msg = error_message(mlops("run-stage", "prepare", cwd=project))
    assert "params.yaml: split.test_size = 'big'" in msg
    assert "valid number" in msg  # the expected type
    assert_nothing_prepared(project)

def test_params_every_problem_reported_at_once(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("data: {path: d.csv, target: y}\ntrain: {estimater: x, estimator: xgboost}\n"
                 "split: {test_size: 1.5}\nevaluat: {}\n")
    with pytest.raises(ConfigError) as ei: load_params(p)
    msg = str(ei.value)
    assert msg.count(str(p)) == 4, msg  # each line names the file
    assert "unknown key 'train.estimater'" in msg
    assert "train.estimator = 'xgboost'" in msg and "'hist_gradient_boosting'" in msg
    assert "split.test_size = 1.5" in msg and "less than 1" in msg
    assert "unknown key 'evaluat'. Did you mean 'evaluate'?" in msg

def test_params_not_yaml_and_missing(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match=r"params\.yaml: not valid YAML"): load_params(p)
    with pytest.raises(ConfigError, match=r"nothere\.yaml: not found.*mlops-nb init"): load_params(tmp_path / "nothere.yaml")

def test_params_not_utf8_cli(project):
    p = project / "params.yaml"
    p.write_bytes(p.read_bytes().replace(b"# params.yaml", "# params.yaml caf\u00e9".encode("latin-1"), 1))
    msg = error_message(mlops("run-stage", "prepare", cwd=project))
    assert "params.yaml" in msg and "UTF-8" in msg

def test_settings_unknown_key_cli(project):
    set_setting(project, "tracking_url", "sqlite:///x.db")
    msg = error_message(mlops("run-stage", "prepare", cwd=project))
    assert "settings.ini: unknown key 'tracking_url' in [mlflow]." in msg
    assert "Did you mean 'tracking_uri'?" in msg and "Known: " in msg
    assert_nothing_prepared(project)

def test_settings_wrong_type_cli(project):
    set_setting(project, "request_timeout", "soon")
    msg = error_message(mlops("run-stage", "prepare", cwd=project))
    assert "settings.ini: [mlflow] request_timeout = 'soon'" in msg
    assert "valid integer" in msg
    assert_nothing_prepared(project)

def test_settings_env_override_wrong_type_cli(project):
    msg = error_message(mlops("run-stage", "train", cwd=project, MLOPS_NB_MLFLOW_REQUEST_TIMEOUT="abc"))
    assert "MLOPS_NB_MLFLOW_REQUEST_TIMEOUT = 'abc'" in msg and "valid integer" in msg
    assert_no_stage_output(project, "train")

def test_settings_library_errors(tmp_path):
    ini = tmp_path / "settings.ini"
    ini.write_text("[mlfow]\nexperiment = e\n[mlflow]\nrequest_timeout = 0\n")
    with pytest.raises(ConfigError, match=r"unknown section \[mlfow\]\. Did you mean 'mlflow'\?"): load_settings(ini, environ={})
    ini.write_text("[mlflow]\nrequest_timeout = 0\n")
    with pytest.raises(ConfigError, match=r"request_timeout = '0': Input should be greater than 0"): load_settings(ini, environ={})
    ini.write_text("[mlflow]\nrequest_timeout = 5\n")
    with pytest.raises(ConfigError, match=r"^MLOPS_NB_MLFLOW_REQUEST_TIMEOUT = 'abc'"):
        load_settings(ini, environ={"MLOPS_NB_MLFLOW_REQUEST_TIMEOUT": "abc"})
    assert load_settings(ini, environ={}).mlflow.request_timeout == 5

def test_settings_not_utf8_cli(project):
    ini = project / "settings.ini"
    ini.write_bytes(ini.read_bytes() + "# caf\u00e9\n".encode("latin-1"))
    msg = error_message(mlops("run-stage", "prepare", cwd=project))
    assert "settings.ini" in msg and "UTF-8" in msg


# ---------------------------------------------------------------- 5. unreachable tracking server

def test_train_unreachable_tracking_server(project):
    t0 = time.monotonic()
    r = mlops("run-stage", "train", cwd=project, MLFLOW_TRACKING_URI=DEAD_URI)
    took = time.monotonic() - t0
    msg = error_message(r)
    assert took < 30, f"took {took:.1f} s to report an unreachable server"
    assert DEAD_URI in msg and "cannot reach the MLflow tracking server" in msg
    assert "MLFLOW_TRACKING_URI" in msg and "settings.ini" in msg  # where to fix it
    assert_no_stage_output(project, "train")
    assert not (project / "models").exists()

def test_unknown_stage_name(project):
    msg = error_message(mlops_console("run-stage", "prepar", cwd=project))  # the real console script's exit status
    assert "no such stage notebook" in msg and "Did you mean 'prepare'?" in msg
    assert "Stages here: drift, evaluate, explain, fairness, gate, prepare, register, train." in msg


# ---------------------------------------------------------------- 6. mlops-nb init

def _init_fails(cwd: Path, *args, dest="newproj") -> str:
    msg = error_message(mlops("init", dest, *args, cwd=cwd))
    assert not (cwd / dest).exists(), f"init left {dest} behind: {list((cwd / dest).rglob('*'))[:10]}"
    return msg

def test_init_data_missing(csv_dir):
    msg = _init_fails(csv_dir, "--data", "missing.csv", "--target", "y")
    assert "missing.csv" in msg and "not found" in msg

def test_init_data_missing_hint_names_option(csv_dir):
    msg = _init_fails(csv_dir, "--data", "missing.csv", "--target", "y")
    assert "--data" in msg and "params.yaml" not in msg

def test_init_data_is_a_directory(csv_dir):
    (csv_dir / "folder.csv").mkdir()
    msg = _init_fails(csv_dir, "--data", "folder.csv", "--target", "y")
    assert "folder.csv" in msg

def test_init_empty_file(csv_dir):
    (csv_dir / "empty.csv").write_bytes(b"")
    msg = _init_fails(csv_dir, "--data", "empty.csv", "--target", "y")
    assert "empty.csv" in msg and "empty" in msg

def test_init_header_only(csv_dir):
    (csv_dir / "header.csv").write_text("age,income,y\n")
    msg = _init_fails(csv_dir, "--data", "header.csv", "--target", "y")
    assert "header.csv" in msg and "no data rows" in msg

def test_init_not_utf8(csv_dir):
    (csv_dir / "latin.csv").write_bytes("age,city,y\n30,Montr\u00e9al,1\n40,Paris,0\n".encode("latin-1"))
    msg = _init_fails(csv_dir, "--data", "latin.csv", "--target", "y")
    assert "latin.csv" in msg and "not UTF-8" in msg and "Re-save it as UTF-8" in msg

def test_not_utf8_position_is_true(tmp_path):
    head = b"age,city,y\n30,Montr"
    (tmp_path / "latin.csv").write_bytes(head + "\u00e9al,1\n40,Paris,0\n".encode("latin-1"))
    with pytest.raises(DataError) as ei: read_table(tmp_path / "latin.csv")
    msg = str(ei.value)
    m = re.search(r"byte (\d+)", msg)
    assert m is None or int(m.group(1)) == len(head), f"bad byte is at offset {len(head)} (line 2): {msg}"

def test_init_target_not_a_column(csv_dir):
    msg = _init_fails(csv_dir, "--data", "people.csv", "--target", "Y")
    assert "--target 'Y' is not a column" in msg and "Did you mean 'y'?" in msg
    assert "Columns are: age, income, color, sex, y." in msg

def test_init_sensitive_not_a_column(csv_dir):
    msg = _init_fails(csv_dir, "--data", "people.csv", "--target", "y", "--sensitive", "gender")
    assert "--sensitive 'gender' is not a column" in msg and "Columns are:" in msg

def _pets(csv_dir: Path) -> None:
    df = make_frame(120)
    df["y"] = np.where(df["y"] == 1, "cat", "dog")
    df.to_csv(csv_dir / "pets.csv", index=False)

def test_init_ambiguous_positive(csv_dir):
    _pets(csv_dir)
    msg = _init_fails(csv_dir, "--data", "pets.csv", "--target", "y")
    assert "['cat', 'dog']" in msg and "--positive" in msg

def test_init_positive_not_present(csv_dir):
    _pets(csv_dir)
    msg = _init_fails(csv_dir, "--data", "pets.csv", "--target", "y", "--positive", "bird")
    assert "--positive 'bird' is not a value of 'y'" in msg and "'cat'" in msg and "'dog'" in msg

def test_init_three_class_target_with_task_classification(csv_dir):
    df = make_frame(120)
    df["y"] = np.array(["cat", "dog", "bird"])[df.index % 3]
    df.to_csv(csv_dir / "three.csv", index=False)  # inferred as multiclass (tests/test_multiclass.py); forced binary:
    msg = _init_fails(csv_dir, "--data", "three.csv", "--target", "y", "--task", "classification")
    assert "binary classifier needs exactly 2" in msg and "data.task: multiclass" in msg
    assert "'y'" in msg

def test_init_too_many_classes(csv_dir):
    df = make_frame(120)
    df["y"] = [f"code{i % 60}" for i in df.index]
    df.to_csv(csv_dir / "codes.csv", index=False)
    msg = _init_fails(csv_dir, "--data", "codes.csv", "--target", "y")
    assert "target 'y' has 60 distinct values; a multiclass target has 3 to 50 classes" in msg

def test_init_destination_not_empty(csv_dir):
    dest = csv_dir / "existing"
    dest.mkdir(); (dest / "notes.txt").write_text("keep me\n")
    before = snapshot(dest)
    msg = error_message(mlops("init", "existing", "--data", "people.csv", "--target", "y", cwd=csv_dir))
    assert "existing already exists and is not empty" in msg and "new folder" in msg
    assert snapshot(dest) == before

def test_init_failure_keeps_existing_empty_destination(csv_dir):
    _pets(csv_dir)
    (csv_dir / "empty_dest").mkdir()
    error_message(mlops("init", "empty_dest", "--data", "pets.csv", "--target", "y", cwd=csv_dir))
    assert (csv_dir / "empty_dest").is_dir() and not any((csv_dir / "empty_dest").iterdir())

def test_init_failure_leaves_no_parent_folders(csv_dir):
    _pets(csv_dir)
    error_message(mlops("init", "a/b/proj", "--data", "pets.csv", "--target", "y", cwd=csv_dir))
    assert not (csv_dir / "a").exists()

def test_library_read_table_errors(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"): read_table(tmp_path / "empty.csv")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=r"bad\.parquet: cannot read as Parquet"): read_table(tmp_path / "bad.parquet")
    with pytest.raises(ConfigError, match=r"--positive"): infer_positive(["cat", "dog"])


# ---------------------------------------------------------------- 7. tampered model file

def test_evaluate_refuses_tampered_model(project, monkeypatch):
    from mlops_nb import stages
    monkeypatch.chdir(project)  # the project's relative sqlite store
    stages.prepare(project); stages.train(project)  # the library calls the stage notebooks make
    model = project / "models" / "model.pkl"
    model.write_bytes(model.read_bytes() + b"\0")  # one byte appended: still loads with pickle, but the hash differs
    msg = stage_error("evaluate", project)
    assert "models/model.pkl" in msg and "SHA-256" in msg and "refusing to load" in msg
    assert "dvc repro" in msg  # how to fix
    assert_no_stage_output(project, "evaluate")
    for p in ("reports/metrics.json", "reports/evaluation.json", "reports/plots/roc.csv"):
        assert not (project / p).exists(), f"evaluate wrote {p} from a tampered model"


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "sub" / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert not target.exists() and list((tmp_path / "sub").iterdir()) == []
