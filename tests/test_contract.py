"""Data contract (issue #3): contract inference, validation with clear errors, quarantine, PII, profile, integrity.

Bad inputs are generated in fixtures (no binary files in git). Most cases call `stages.prepare` in-process on a
private copy of a small project made by `mlops-nb init`; the CLI paths (`mlops-nb contract …`, `run-stage prepare`)
and one full `dvc repro` with PII columns (grepping every output for raw values) go through the real console script.
"""
from __future__ import annotations
import json, os, re, shutil, sqlite3, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_nb import contract as C, stages
from mlops_nb.pii import PII_KEY_ENV
from mlops_nb.config import ContractParams, load_params
from mlops_nb.core import ConfigError, DataError

from test_bad_inputs import MLOPS_NB, edit_params, error_message, mlops, temp_leftovers

PII_KEY = "test-secret-key-0123456789abcdef-never-in-outputs"


def people(n: int = 400, seed: int = 0) -> pd.DataFrame:
    "Customers with PII: a string customer id and an e-mail address (both unique)."
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"customer_id": [f"CUST{seed}X{i:05d}Q" for i in range(n)],
                       "email": [f"person.{seed}.{i}@mail-example.org" for i in range(n)],
                       "age": rng.integers(18, 80, n), "income": rng.normal(50, 10, n).round(2),
                       "color": rng.choice(["red", "green", "blue"], n), "sex": rng.choice(["F", "M"], n)})
    df["y"] = ((df.income + rng.normal(0, 5, n)) > 50).astype(int)
    return df


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    "A project made by `mlops-nb init` (git + DVC), with data.pii declared and the contract re-inferred."
    base = tmp_path_factory.mktemp("contract")
    people().to_csv(base / "people.csv", index=False)
    r = mlops("init", "proj", "--data", "people.csv", "--target", "y", "--sensitive", "sex", "--id", "customer_id", cwd=base)
    assert r.returncode == 0, r.stderr
    root = base / "proj"
    assert (root / "contract.yaml").exists(), "init did not write contract.yaml"
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["data"]["id"] = ["customer_id"]
    p["data"]["exclude"] = [c for c in p["data"]["exclude"] if c != "email"] + ["email"]
    p["data"]["pii"] = {"customer_id": "pseudonymize", "email": "drop"}
    p["fairness"].update(min_group_size=10, n_boot=20)
    p["explain"].update(sample_size=50, background_size=20)
    p["gates"]["performance"]["floors"] = {"roc_auc": 0.5}
    p["gates"]["fairness"].update(demographic_parity_difference=None, equalized_odds_difference=None, selection_rate_ratio=None)
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    r = mlops("contract", "infer", "--force", cwd=root)
    assert r.returncode == 0, r.stderr
    for args in (["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "pii"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


@pytest.fixture
def project(template, tmp_path, monkeypatch) -> Path:
    dest = tmp_path / "proj"
    shutil.copytree(template, dest, symlinks=True)
    monkeypatch.setenv(PII_KEY_ENV, PII_KEY)
    monkeypatch.delenv(C.MEMORY_ENV, raising=False)
    return dest


def raw(project: Path) -> Path: return project / "data" / "raw" / "people.csv"

def write_raw(project: Path, df: pd.DataFrame) -> None: df.to_csv(raw(project), index=False)

def nothing_written(root: Path) -> None:
    for p in ("data/prepared/train.parquet", "data/prepared/test.parquet", "reports/data/prepare.json",
              "reports/data/validation.json", "reports/data/profile.json", "data/quarantine/rows.parquet"):
        assert not (root / p).exists(), f"partial output {p} written"
    assert not temp_leftovers(root), temp_leftovers(root)

def prepare_fails(project: Path, exc=DataError) -> str:
    with pytest.raises(exc) as ei: stages.prepare(project)
    nothing_written(project)
    return str(ei.value)


# ---------------------------------------------------------------- the contract file

def test_contract_written_by_init_readable_no_pii_values(template):
    text = (template / "contract.yaml").read_text()
    con = C.load_contract(template / "contract.yaml")
    assert con.rule("color").categories == ("blue", "green", "red")
    assert con.rule("y").role == "target" and con.rule("y").categories == (0, 1)
    assert con.rule("customer_id").role == "id" and con.rule("customer_id").unique
    assert con.rule("email").role == "pii"
    assert (con.rule("age").min, con.rule("age").max) == (people().age.min(), people().age.max())
    df = people()
    assert not any(v in text for v in [*df.email, *df.customer_id]), "a raw PII value was written to contract.yaml"
    dvc = yaml.safe_load((template / "dvc.yaml").read_text())["stages"]["prepare"]
    params = yaml.safe_load((template / "params.yaml").read_text())
    assert "${contract.path}" in dvc["deps"] and params["contract"]["path"] == "contract.yaml" and "contract" in dvc["params"]

def test_contract_infer_refuses_overwrite_and_bad_contract(project):
    msg = error_message(mlops("contract", "infer", cwd=project))
    assert "contract.yaml already exists" in msg and "--force" in msg
    (project / "contract.yaml").write_text("columns:\n  age: {type: integer, min: low}\n")
    msg = error_message(mlops("contract", "validate", cwd=project))
    assert "columns.age.type = 'integer'" in msg and "columns.age.min = 'low'" in msg
    (project / "contract.yaml").unlink()
    msg = prepare_fails(project, ConfigError)
    assert "contract.yaml: data contract not found" in msg and "mlops-nb contract infer" in msg

def test_repo_contract_matches_demo_data():
    "The demo's committed contract.yaml is what init writes, and the demo data passes it."
    from conftest import REPO
    con = C.load_contract(REPO / "contract.yaml")
    res = C.validate_file(REPO / load_params(REPO / "params.yaml").data.path, con)
    assert res.ok and res.n_quarantined == 0 and res.n_rows == 277_677


# ---------------------------------------------------------------- valid data, quarantine, profile, integrity

def test_prepare_quarantines_few_bad_rows(project):
    df = people().astype({"age": "object"})
    df.loc[3, "age"] = "n/a?"           # not a number (one row of a numeric column)
    df.loc[5, "income"] = np.inf       # infinite
    write_raw(project, df)
    edit_params(project, contract={"max_quarantine_share": 0.02})
    s = stages.prepare(project)
    assert (s["rows_read"], s["rows_quarantined"]) == (400, 2)
    q = pd.read_parquet(project / stages.QUARANTINE)
    assert q["_row"].tolist() == [3, 5]
    assert q["_reason"].iloc[0] == "age: not int64" and q["age"].iloc[0] == "n/a?"   # the raw value, kept as text
    assert "income: infinite value" in q["_reason"].iloc[1]
    assert "email" not in q and q["customer_id"].str.fullmatch(r"[0-9a-f]{32}").all(), "PII reached the quarantine file"
    v = json.loads((project / stages.VALIDATION).read_text())
    assert v["schema"] == "mlops_nb.validation/1" and v["rows_quarantined"] == 2
    train = pd.read_parquet(project / stages.TRAIN)
    assert np.isfinite(train["income"]).all() and str(train["age"].dtype) == "int64"

def test_profile_json(project):
    stages.prepare(project)
    p = json.loads((project / stages.PROFILE).read_text())
    assert p["schema"] == "mlops_nb.profile/1" and p["rows"] == 400
    cols = {c["column"]: c for c in p["columns"]}
    df = people()
    assert cols["income"]["kind"] == "numeric"
    assert abs(cols["income"]["quantiles"]["0.5"] - df.income.median()) < 1e-9
    assert {t["value"] for t in cols["color"]["top"]} == {"red", "green", "blue"}
    assert abs(p["target"]["base_rate"] - df.y.mean()) < 1e-12
    by_sex = {g["group"]: g for g in p["groups"]["sex"]}
    assert abs(by_sex["F"]["base_rate"] - df.y[df.sex == "F"].mean()) < 1e-12
    assert "top" not in cols["customer_id"] and "email" not in cols

def test_prepare_records_input_hashes(project):
    s = stages.prepare(project)
    from mlops_nb.core import file_hash
    assert s["inputs"] == {"data/raw/people.csv": file_hash(raw(project)), "contract.yaml": file_hash(project / "contract.yaml")}
    tags = stages._input_tags(project)
    assert tags["mlops_nb.input_sha256.data/raw/people.csv"] == file_hash(raw(project))
    assert tags["mlops_nb.rows_quarantined"] == "0"


# ---------------------------------------------------------------- dataset-level problems: one message, nothing written

def test_many_problems_one_message(project):
    df = people().drop(columns=["color"]).assign(extra=1)
    df["income"] = "lots"                                  # type changed: numbers -> text
    df["sex"] = np.nan                                     # all null
    write_raw(project, df)
    edit_params(project, data={"categorical": [], "sensitive": []})
    msg = prepare_fails(project)
    assert "data/raw/people.csv does not match the data contract contract.yaml" in msg
    assert "column 'color' [missing_column]" in msg and "column 'extra' [extra_column]" in msg
    assert "column 'income' [type]: no value converts to float64" in msg and "'lots'" in msg and "rows 0, 1, 2, 3, 4" in msg
    assert "column 'sex' [all_null]" in msg
    assert "edit contract.yaml" in msg and "Fix the data" in msg

def test_cli_validate_reports_and_writes_nothing(project):
    df = people(); df.loc[:2, "y"] = 5; df.loc[10, "color"] = "mauve"
    write_raw(project, df)
    r = mlops("contract", "validate", cwd=project)
    msg = error_message(r)
    assert "column 'y' [category]: unexpected target value in 3 of 400 rows, e.g. 5 (rows 0, 1, 2)" in msg
    assert "row-level: column 'color' [category]" in r.stdout and "'mauve' (rows 10)" in r.stdout
    nothing_written(project)

def test_too_many_bad_rows(project):
    df = people()
    df.loc[:9, "age"] = 10**12                             # absurdly large, 10 rows = 2.5 % > 1 %
    write_raw(project, df)
    msg = prepare_fails(project)
    assert "10 of 400 rows (2.50%) fail row-level checks, more than contract.max_quarantine_share = 1.00%" in msg
    assert "column 'age' [range]: outside [18, 79] in 10 of 400 rows, e.g. 1000000000000" in msg

def test_target_third_class(project):
    df = people(); df.loc[:2, "y"] = 2
    write_raw(project, df)
    msg = prepare_fails(project)
    assert "target 'y' has 3 distinct values" in msg and "data.task: regression" in msg

def test_target_missing(project):
    write_raw(project, people().drop(columns=["y"]))
    msg = prepare_fails(project, ConfigError)
    assert "data.target = 'y' is not a column" in msg

@pytest.mark.parametrize("policy,quarantined", [("quarantine", 1), ("keep", 0), ("fail", None)])
def test_unseen_category_policy(project, policy, quarantined):
    df = people(); df.loc[7, "color"] = "purple"
    write_raw(project, df)
    edit_params(project, contract={"unseen_categories": policy})
    if quarantined is None:
        msg = prepare_fails(project)
        assert "column 'color' [category]: category not in the contract in 1 of 400 rows, e.g. 'purple' (rows 7)" in msg
        return
    s = stages.prepare(project)
    assert s["rows_quarantined"] == quarantined
    v = json.loads((project / stages.VALIDATION).read_text())
    if policy == "keep": assert any("purple" in n for n in v["notes"])
    else: assert v["problems"][0]["examples"] == ["purple"] and v["problems"][0]["rows"] == [7]

def test_duplicate_ids_quarantined_values_hidden(project):
    df = people(); df.loc[9, "customer_id"] = df.loc[8, "customer_id"]
    write_raw(project, df)
    s = stages.prepare(project)
    assert s["rows_quarantined"] == 1
    q = pd.read_parquet(project / stages.QUARANTINE)
    assert q["_row"].tolist() == [9] and q["_reason"].tolist() == ["customer_id: duplicate id"]
    v = (project / stages.VALIDATION).read_text()
    assert "<hidden: PII>" in v and df.loc[8, "customer_id"] not in v

def test_short_rows_become_missing_and_are_quarantined(project):
    text = raw(project).read_text().splitlines()
    text[3] = ",".join(text[3].split(",")[:-1])          # a ragged row with a field too few: y missing
    raw(project).write_text("\n".join(text) + "\n")
    s = stages.prepare(project)
    assert s["rows_quarantined"] == 1
    assert pd.read_parquet(project / stages.QUARANTINE)["_reason"].tolist() == ["y: missing value"]


# ---------------------------------------------------------------- unreadable files

@pytest.mark.parametrize("content,expect", [
    (b"", "the file is empty"),
    (b"customer_id,email,age,income,color,sex,y\n", "header only, no data rows"),
    (b"a,b,y\n1,x,0\n2,y,1,5,6\n", "Expected 3 fields in line 3, saw 5"),
    (b'a,b,y\n1,"x,0\n2,y,1\n', "EOF inside string"),
    ("a,b,y\n1,Montr\u00e9al,0\n".encode("latin-1"), "not UTF-8 text (first bad byte at offset 13, line 2)"),
    (b"age,age,y\n1,2,0\n", "duplicated column names ['age']"),
], ids=["empty", "header-only", "ragged", "bad-quoting", "not-utf8", "duplicate-names"])
def test_unreadable_csv(project, content, expect):
    raw(project).write_bytes(content)
    msg = prepare_fails(project)
    assert "data/raw/people.csv" in msg and expect in msg

def test_wrong_delimiter(project):
    people().to_csv(raw(project), index=False, sep=":")   # ':' is not sniffed
    msg = prepare_fails(project, ConfigError)
    assert "Only one column was read" in msg and "data.delimiter" in msg

def test_truncated_parquet(project):
    pq = project / "data" / "raw" / "people.parquet"
    people().to_parquet(pq)
    pq.write_bytes(pq.read_bytes()[: pq.stat().st_size // 2])
    edit_params(project, data={"path": "data/raw/people.parquet"})
    msg = prepare_fails(project)
    assert "people.parquet: cannot read as Parquet" in msg


# ---------------------------------------------------------------- PII key

def test_pseudonymize_without_key(project, monkeypatch):
    monkeypatch.delenv(PII_KEY_ENV)
    msg = prepare_fails(project, ConfigError)
    assert "MLOPS_NB_PII_KEY is not set" in msg and "data.pii" in msg

def test_pii_column_cannot_be_a_feature(project):
    edit_params(project, data={"pii": {"color": "drop"}})
    msg = prepare_fails(project, ConfigError)
    assert "data.pii.color = drop but 'color' is also in data.categorical" in msg


# ---------------------------------------------------------------- big files

@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    "About 200 MB of valid rows: a block of the contract's distribution repeated, with ids made unique per block (fast)."
    p = tmp_path_factory.mktemp("big") / "big.csv"
    df = people(2000)
    block, b = df.to_csv(index=False, header=False).encode(), 0
    with open(p, "wb") as f:
        f.write((",".join(df.columns) + "\n").encode())
        while f.tell() < 200 * 2**20:
            f.write(block.replace(b"CUST0X", f"CUST{b}B".encode())); b += 1
    return p

def test_huge_file_refused_cleanly(project, big_csv, monkeypatch):
    shutil.copyfile(big_csv, raw(project))
    monkeypatch.setenv(C.MEMORY_ENV, "100")
    msg = prepare_fails(project)
    assert "needs about 600 MB of memory (estimate), more than the limit of 100 MB" in msg
    assert "contract.max_memory_mb" in msg and "mlops-nb contract validate" in msg

def _validate_rss(root: Path, path: Path) -> tuple[str, int]:
    "Run `mlops-nb contract validate PATH` in a fresh process; (stdout, peak RSS in MB)."
    code = ("import resource, sys; from mlops_nb.cli import main; rc = main(sys.argv[1:]); "
            "print('MAXRSS_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, "contract", "validate", str(path), "--root", str(root)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout, int(re.search(r"MAXRSS_MB (\d+)", r.stdout).group(1))

def test_huge_file_streamed_in_bounded_memory(template, big_csv, tmp_path):
    "`mlops-nb contract validate` reads in batches: 4x the file costs about the same peak memory."
    data = big_csv.read_bytes()[: 50 * 2**20]
    small = tmp_path / "small.csv"
    small.write_bytes(data[: data.rindex(b"\n") + 1])
    out, rss_big = _validate_rss(template, big_csv)
    n = sum(1 for _ in open(big_csv, "rb")) - 1
    assert f"big.csv: {n:,} rows; 0 would be quarantined; 0 dataset-level problems" in out, out
    _, rss_small = _validate_rss(template, small)
    # loading the 150 MB more of the big file would add far more than 100 MB (the interpreter and libraries, several
    # hundred MB, are the same in both runs, so an absolute bound would measure the machine, not the streaming)
    assert rss_big - rss_small < 100, f"peak RSS grows with the file: {rss_small} MB for 50 MB, {rss_big} MB for 200 MB"


# ---------------------------------------------------------------- end to end: no raw PII anywhere

@pytest.mark.slow
def test_pipeline_pii_never_reaches_outputs(template, tmp_path):
    """`dvc repro evaluate` (prepare, train, evaluate: their notebooks, the MLflow run with params, tags, model and
    artifacts, reports) with PII columns, then every file of the project is searched for a raw PII value or the key.
    The later stages only read the prepared data, which is searched too (the whole pipeline costs minutes here)."""
    root = tmp_path / "e2e"
    shutil.copytree(template, root, symlinks=True)
    env = {PII_KEY_ENV: PII_KEY, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "dvc", "repro", "evaluate"], cwd=root, capture_output=True, text=True, timeout=900,
                       env={**{k: v for k, v in os.environ.items() if not k.startswith("MLOPS_NB_")}, **env})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    df = people()
    secrets = [*df.email, *df.customer_id, PII_KEY]
    skip = {".git", ".dvc"}
    checked = 0
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if not p.is_file() or skip & set(rel.parts) or rel.parts[:2] == ("data", "raw"): continue
        blob = p.read_bytes()
        hits = [s for s in secrets if s.encode() in blob]
        assert not hits, f"raw PII {hits[:2]} found in {rel}"
        if p.suffix == ".parquet":  # compressed: look at the values too
            t = pd.read_parquet(p)
            vals = set(t.astype("string").stack().dropna())
            assert not vals & set(secrets), f"raw PII in the values of {rel}"
        checked += 1
    assert checked > 15
    for rel in ("data/prepared/train.parquet", "data/quarantine/rows.parquet", "mlflow.db", "models/model.pkl",
                "reports/notebooks/prepare.ipynb", "reports/notebooks/train.ipynb", "reports/notebooks/evaluate.ipynb",
                "reports/data/profile.json", "reports/metrics.json"):
        assert (root / rel).exists(), f"{rel} missing: the scan above did not cover it"
    train = pd.read_parquet(root / "data/prepared/train.parquet")
    assert "email" not in train and train["customer_id"].str.fullmatch(r"[0-9a-f]{32}").all()
    with sqlite3.connect(root / "mlflow.db") as db:
        tags = dict(db.execute("select key, value from tags").fetchall())
    from mlops_nb.core import file_hash
    assert tags["mlops_nb.input_sha256.data/raw/people.csv"] == file_hash(raw(root))
    assert tags["mlops_nb.input_sha256.contract.yaml"] == file_hash(root / "contract.yaml")


# --- a streamed file is read with one format per column, decided once from its first rows (not one per chunk) ---

def _stream_vs_whole(tmp_path, name, text, rules, rows=4):
    "(the rows that pass when `text` is streamed in chunks of `rows`, when read whole; the streamed quarantine)."
    p = tmp_path / name; p.write_text(text)
    from mlops_nb.data import read_table
    con = C.Contract(tuple(rules))
    streamed = C.validate_batches(C.iter_batches(p, rows=rows), con, str(p), raise_errors=False)
    whole = C.validate(read_table(p), con, str(p), raise_errors=False)
    return streamed.valid.reset_index(drop=True), whole.valid.reset_index(drop=True), streamed.quarantine


def test_stream_decimal_comma_column_read_one_way_in_every_chunk(tmp_path):
    # chunk 1 says decimal comma ('2,5'); chunk 3 alone would read '1,234' as thousands (1234), chunk 4 has no comma
    # at all ('1.234.567' stayed text, '1.234' became pandas' 1.234): every chunk must read as the whole file does
    vals = ["2,5", "1.234,5", "3", "4", "5", "6", "7", "8", "1,234", "5,000", "12", "7", "1.234.567", "1.234", "12", "7"]
    text = "amount\n" + "".join(f'"{v}"\n' for v in vals)
    s, w, q = _stream_vs_whole(tmp_path, "dc.csv", text, [C.ColumnRule("amount", "float64")])
    assert len(q) == 0 and len(s) == len(vals)
    assert s["amount"].tolist() == w["amount"].tolist()
    assert s["amount"].tolist()[8:10] == [1.234, 5.0] and s["amount"].tolist()[12:14] == [1234567.0, 1234.0]


def test_stream_value_fitting_no_decided_format_is_flagged_not_converted(tmp_path, monkeypatch):
    # thousands decided from the first 8 rows; '1.234,5' (a decimal comma) in a later chunk must not become 1234.5
    monkeypatch.setattr(C, "SAMPLE_ROWS", 8)  # a file longer than the rows that decide
    vals = ["1,234.5", "2,000", "3", "4", "5", "6", "7", "8", "1.234,5", "12", "3", "4"]
    p = tmp_path / "th.csv"; p.write_text("amount\n" + "".join(f'"{v}"\n' for v in vals))
    res = C.validate_file(p, C.Contract((C.ColumnRule("amount", "float64"),)), rows=4, raise_errors=False)
    assert res.quarantine["_row"].tolist() == [8]
    assert res.quarantine["_reason"].tolist() == ["amount: not float64"]
    assert "'1.234,5'" in next(pr for pr in res.problems if pr.column == "amount").line(res.n_rows)
    batches = list(C.iter_batches(p, rows=4))
    assert [b.attrs["number_formats"]["amount"]["format"] for b in batches] == ["thousands separators ('1,234.5')"] * 3


def test_stream_dates_read_day_first_in_every_chunk(tmp_path):
    # the first chunk's dates read either way; a later chunk's '13/02/2020' says day-first: '01/02/2020' is 1 February
    days = ["01/02/2020", "03/04/2020", "05/06/2020", "07/08/2020", "13/02/2020", "02/01/2020", "25/12/2020", "11/11/2020"]
    text = "day,x\n" + "".join(f"{d},{i}\n" for i, d in enumerate(days))
    rules = [C.ColumnRule("day", "datetime", role="time", unique=True), C.ColumnRule("x", "int64")]
    s, w, q = _stream_vs_whole(tmp_path, "d.csv", text, rules)
    assert len(q) == 0  # '02/01/2020' (2 January) is no duplicate of '01/02/2020'
    assert s["day"].tolist() == w["day"].tolist()
    assert s["day"].dt.month.tolist()[:2] == [2, 4]
