"""`mlops-nb init` on an untidy dataset of another shape, then `dvc repro` in the new project."""
import json, zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, run


def messy_census_like(n=1500, seed=1) -> pd.DataFrame:
    "Adult-income style data: ';' delimiter, '>50K'/'<=50K' target, '?' and empty markers, dates, text, booleans."
    rng = np.random.default_rng(seed)
    age = rng.integers(17, 90, n)
    edu = rng.choice(["HS-grad", "Bachelors", "Masters", "Some-college", "?"], n, p=[.35, .25, .1, .25, .05])
    hours = rng.normal(40, 12, n).round(1)
    married = rng.random(n) < 0.5
    logit = -3 + 0.04 * (age - 17) + 1.2 * (edu == "Masters") + 0.8 * (edu == "Bachelors") + 0.03 * (hours - 40) + 0.7 * married
    income = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), ">50K", "<=50K")
    df = pd.DataFrame({
        "person_id": [f"P{i:06d}" for i in range(n)],
        "age": age, "education": edu, "hours-per-week": hours,
        "married": married,
        "sex": rng.choice(["Female", "Male"], n),
        "interview_date": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
        "comment": [f"free text note number {i} about this person" for i in range(n)],
        "income": income,
    })
    df["interview_date"] = df["interview_date"].dt.strftime("%Y-%m-%d")
    df.loc[rng.choice(n, 60, replace=False), "hours-per-week"] = np.nan
    return df


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    base = tmp_path_factory.mktemp("init")
    csv = base / "adult.csv"
    messy_census_like().to_csv(csv, sep=";", index=False)
    dest = base / "income-project"
    r = run(["mlops-nb", "init", str(dest), "--data", str(csv), "--target", "income", "--sensitive", "sex",
             "--time-column", "interview_date", "--estimator", "logistic_regression"], base)
    return dest, r


def test_init_infers_roles_and_writes_a_project(project):
    dest, r = project
    p = yaml.safe_load((dest / "params.yaml").read_text())["data"]
    assert p["numeric"] == ["age", "hours-per-week"]
    assert p["categorical"] == ["education", "married", "sex"]
    assert p["id"] == ["person_id"] and p["time"] == "interview_date" and p["exclude"] == ["comment"]
    assert "excluded comment: free text" in r.stdout
    for f in ("dvc.yaml", "settings.ini", ".dvc/config", "nbs/pipeline/train.ipynb", "data/raw/adult.csv.dvc"):
        assert (dest / f).exists(), f
    assert "analytics = false" in (dest / ".dvc/config").read_text()
    assert run(["git", "status", "--porcelain"], dest).stdout == ""  # everything committed


@pytest.mark.slow
def test_dvc_repro_in_new_project(project):
    dest, _ = project
    run(["dvc", "repro"], dest)
    prep = json.loads((dest / "reports/data/prepare.json").read_text())
    assert prep["positive"] == ">50K" and prep["split"]["method"] == "time"
    assert prep["split"]["reference"]["to"] < prep["split"]["current"]["from"]  # test set is later in time
    m = json.loads((dest / "reports/metrics.json").read_text())
    assert m["roc_auc"] > 0.6
    assert json.loads((dest / "reports/registry.json").read_text())["alias"] == "challenger"
    assert "Running stage" not in run(["dvc", "repro"], dest).stdout


def test_positive_option_and_numeric_target(tmp_path):
    df = pd.DataFrame({"x": np.arange(200) % 7, "z": np.linspace(0, 1, 200), "y": ["cat", "dog"] * 100})
    df.to_csv(tmp_path / "pets.csv", index=False)
    run(["mlops-nb", "init", str(tmp_path / "p"), "--data", str(tmp_path / "pets.csv"), "--target", "y",
         "--positive", "dog", "--no-git"], tmp_path)
    assert yaml.safe_load((tmp_path / "p/params.yaml").read_text())["data"]["positive"] == "dog"
    df["y"] = np.linspace(0, 100, 200)  # many distinct numbers: a regression task
    df.to_parquet(tmp_path / "reg.parquet")
    run(["mlops-nb", "init", str(tmp_path / "r"), "--data", str(tmp_path / "reg.parquet"), "--target", "y", "--no-git"], tmp_path)
    assert yaml.safe_load((tmp_path / "r/params.yaml").read_text())["data"]["task"] == "regression"


def test_wheel_ships_the_stage_notebooks(tmp_path):
    import sys
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(REPO)], REPO)
    whl = next(tmp_path.glob("mlops_nb-*.whl"))
    names = set(zipfile.ZipFile(whl).namelist())
    for stage in ("prepare", "train", "evaluate", "register"):
        assert f"mlops_nb/pipeline/{stage}.ipynb" in names
    assert "mlops_nb/cli.py" in names


def test_repeated_list_flags_accumulate():
    "`--sensitive a --sensitive b` keeps both (argparse's default would keep only the last)."
    from mlops_nb.cli import build_parser
    a = build_parser().parse_args(["init", "p", "--data", "d.csv", "--target", "y", "--sensitive", "sex", "--sensitive", "age_band",
                                   "race", "--id", "customer_id", "--id", "order_id"])
    assert a.sensitive == ["sex", "age_band", "race"] and a.id == ["customer_id", "order_id"]


@pytest.mark.slow
def test_no_sensitive_columns_pipeline_completes(tmp_path, monkeypatch):
    "Most first tries have no --sensitive: fairness says it does not apply (JSON, notebook, gate notes); the model registers."
    from mlops_nb import stages
    from mlops_nb.stage_run import run_stage
    messy_census_like(600).drop(columns=["sex"]).to_csv(tmp_path / "adult.csv", sep=";", index=False)
    run(["mlops-nb", "init", str(tmp_path / "p"), "--data", str(tmp_path / "adult.csv"), "--target", "income",
         "--estimator", "logistic_regression"], tmp_path)
    root = tmp_path / "p"
    monkeypatch.chdir(root)
    for stage in ("prepare", "train", "evaluate", "explain"): getattr(stages, stage)(root)
    run_stage("fairness", root, progress=False)  # the stage notebook itself, which used to fail on the empty report
    fair = json.loads((root / "reports/fairness/fairness.json").read_text())
    assert fair["features"] == {} and "no sensitive columns are declared" in fair["skipped"]
    nb = (root / "reports/notebooks/fairness.ipynb").read_text()
    assert "No fairness analysis:" in nb and "no sensitive columns are declared" in nb
    report, _ = stages.gate(root)
    assert report.verdict == "pass" and not [g for g in report.gates if g.family == "fairness"]
    assert any(n.startswith("fairness gates: not applicable: no sensitive columns") for n in report.notes)
    assert stages.register(root)["alias"] == "challenger"


def test_day_first_dates_split_by_time_and_small_data_noted(tmp_path):
    "DD/MM/YYYY is read day-first for the whole column (no training row after the test window starts); init says how."
    from mlops_nb.data import split_train_test
    rng = np.random.default_rng(3)
    days = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.permutation(1000), unit="D")
    df = pd.DataFrame({"when": days.strftime("%d/%m/%Y"), "x": rng.normal(size=1000), "y": rng.integers(0, 2, 1000)})
    train, test, res = split_train_test(df, "y", time="when", test_size=0.25)
    first_test = pd.to_datetime(test["when"], format="%d/%m/%Y").min()
    assert (pd.to_datetime(train["when"], format="%d/%m/%Y") < first_test).all()  # mixed guessing put 100s of rows after it
    assert len(test) == 250 and res.current["from"] == str(first_test)
    df.head(120).to_csv(tmp_path / "small.csv", index=False)
    out = run(["mlops-nb", "init", str(tmp_path / "p"), "--data", str(tmp_path / "small.csv"), "--target", "y",
               "--time-column", "when", "--no-git"], tmp_path).stdout
    assert "note: time column 'when': dates read as %d/%m/%Y" in out
    assert "note: only 120 rows: the test set will have about 30" in out


def test_thousands_separators_are_numbers(tmp_path, monkeypatch):
    "'1,234' (quoted in a comma CSV) is a number, not free text: a numeric feature, and prepare's contract check passes."
    from mlops_nb import stages
    rng = np.random.default_rng(5)
    income = rng.integers(500, 250_000, 800)
    df = pd.DataFrame({"income": [f"{v:,}" for v in income], "age": rng.integers(18, 90, 800),
                       "y": ((income > 60_000) ^ (rng.random(800) < 0.15)).astype(int)})  # noisy: not a target leak
    df.to_csv(tmp_path / "money.csv", index=False)  # values with commas are quoted
    run(["mlops-nb", "init", str(tmp_path / "p"), "--data", str(tmp_path / "money.csv"), "--target", "y", "--no-git"], tmp_path)
    p = yaml.safe_load((tmp_path / "p/params.yaml").read_text())["data"]
    assert "income" in p["numeric"] and "income" not in p["exclude"]
    monkeypatch.chdir(tmp_path / "p")
    stages.prepare(tmp_path / "p")
    train = pd.read_parquet(tmp_path / "p/data/prepared/train.parquet")
    assert pd.api.types.is_numeric_dtype(train["income"]) and set(train["income"]) <= set(income.tolist())


def test_decimal_commas_are_numbers(tmp_path, monkeypatch):
    "A semicolon CSV from a European spreadsheet ('1.234,56' and '12,5'): numbers, a numeric feature, through prepare."
    from mlops_nb import stages
    rng = np.random.default_rng(6)
    price = rng.integers(100, 500_000, 800) / 100
    fmt = lambda v: f"{v:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")  # 1234.5 -> '1.234,50'
    df = pd.DataFrame({"price": [fmt(v) for v in price], "age": rng.integers(18, 90, 800),
                       "y": ((price > 1000) ^ (rng.random(800) < 0.15)).astype(int)})  # noisy: not a target leak
    df.to_csv(tmp_path / "eu.csv", index=False, sep=";")
    run(["mlops-nb", "init", str(tmp_path / "p"), "--data", str(tmp_path / "eu.csv"), "--target", "y", "--no-git"], tmp_path)
    p = yaml.safe_load((tmp_path / "p/params.yaml").read_text())["data"]
    assert "price" in p["numeric"] and "price" not in p["exclude"]
    monkeypatch.chdir(tmp_path / "p")
    stages.prepare(tmp_path / "p")
    train = pd.read_parquet(tmp_path / "p/data/prepared/train.parquet")
    assert pd.api.types.is_float_dtype(train["price"]) and set(train["price"]) <= set(price.tolist())
def test_labels_option_copies_value_labels_into_the_contract(tmp_path):
    "`init --labels FILE`: the labels land in contract.yaml with their source; a bad file or column fails before anything is made."
    df = pd.DataFrame({"SEX": ["1", "2"] * 100, "x": np.arange(200) % 5, "y": [0, 1, 1, 0] * 50})
    df.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "labels.yaml").write_text("# from the survey's code book\nSEX: {1: Male, 2: Female}\n")
    run(["mlops-nb", "init", str(tmp_path / "p"), "--data", str(tmp_path / "d.csv"), "--target", "y",
         "--labels", str(tmp_path / "labels.yaml"), "--no-git"], tmp_path)
    text = (tmp_path / "p/contract.yaml").read_text()
    assert "# labels: from labels.yaml" in text and "# from the survey's code book" in text
    assert yaml.safe_load(text)["columns"]["SEX"]["labels"] == {"1": "Male", "2": "Female"}
    for bad, says in (("SEXE: {1: Male}\n", "columns the data does not have: ['SEXE']"),
                      ("SEX: [Male, Female]\n", "labels.yaml: SEX: labels: expected a mapping code -> text")):
        (tmp_path / "labels.yaml").write_text(bad)
        r = run(["mlops-nb", "init", str(tmp_path / "q"), "--data", str(tmp_path / "d.csv"), "--target", "y",
                 "--labels", str(tmp_path / "labels.yaml"), "--no-git"], tmp_path, check=False)
        assert r.returncode != 0 and says in r.stderr + r.stdout, r.stderr
        assert not (tmp_path / "q").exists()  # nothing half-made


def test_numbers_stored_as_text_become_numeric_features_with_numbers(tmp_path):
    "A column of numbers written as text with many values (SCHL '1'..'24'): a numeric feature, and the model gets numbers."
    import pandas as pd
    from mlops_nb import stages
    from mlops_nb.cli import main
    from mlops_nb.contract import load_contract
    df = pd.read_parquet(REPO / "data/raw/acs_employment_ma.parquet").sample(2000, random_state=0)
    df = df.astype({c: str for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)})
    df.to_parquet(tmp_path / "codes.parquet", index=False)
    assert main(["init", str(tmp_path / "p"), "--data", str(tmp_path / "codes.parquet"), "--target", "employed",
                 "--time-column", "year", "--id", "id", "--no-git"]) == 0
    root = tmp_path / "p"
    assert "SCHL" in yaml.safe_load((root / "params.yaml").read_text())["data"]["numeric"]
    assert load_contract(root / "contract.yaml").rule("SCHL").type == "float64"  # the contract converts them
    stages.prepare(root)
    train = pd.read_parquet(root / "data/prepared/train.parquet")
    assert pd.api.types.is_float_dtype(train["SCHL"]) and pd.api.types.is_string_dtype(train["MAR"])


def test_rare_positives_get_threshold_auto(tmp_path, capsys):
    "A binary target with positives under 10 % of the rows: init writes evaluate.threshold: auto, says why, and prints it."
    from mlops_nb.cli import main
    from mlops_nb.config import load_params
    rng = np.random.default_rng(7)
    for share, expected in ((0.04, "auto"), (0.3, 0.5)):
        x = rng.normal(size=600)
        y = np.where(rng.random(600) < share, "yes", "no")  # independent of x: no target leak for init to exclude
        pd.DataFrame({"x": x, "z": rng.integers(0, 5, 600), "y": y}).to_csv(tmp_path / f"d{share}.csv", index=False)
        dest = tmp_path / f"p{share}"
        assert main(["init", str(dest), "--data", str(tmp_path / f"d{share}.csv"), "--target", "y", "--no-git"]) == 0
        out, text = capsys.readouterr().out, (dest / "params.yaml").read_text()
        assert load_params(dest / "params.yaml").evaluate.threshold == expected  # and the file still validates
        rate = f"{(y == 'yes').mean() * 100:.1f} %"
        if expected == "auto":
            assert f"positives are {rate} of the rows" in text and "0.5 would flag almost nothing" in text
            assert f"note: positives ('y' = yes) are {rate} of the rows" in out and "evaluate.threshold: auto" in out
        else:
            assert "evaluate.threshold: auto" not in out and "positives are" not in text
