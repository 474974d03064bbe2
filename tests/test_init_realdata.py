"""`mlops-nb init` on a file shaped like a real export (issue 18): names, birth dates, case numbers, several dates,
duplicated and one-to-one columns, columns entirely missing or constant, counts 0-20 and scores 1-10.

init's contract must accept the file it was inferred from (one `dvc repro` over a frame with every shape at once, and
each shape alone through init + prepare in process), duplicates are excluded with the column they repeat, personal
columns are proposed for data.pii, and counts and scores stay numbers unless declared otherwise."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import run

# a few dozen names, some common (in mlops_nb.pii's short list) and some not, written as exports write them
FIRST = ["james", "maria", "kevon", "miguel", "ashley", "dashawn", "jennifer", "tyrone", "marisol", "robert", "keisha",
         "luis", "priya", "michael", "ngozi", "david", "yuki", "latoya", "carlos", "sarah", "abdul", "emily", "jamal",
         "linda", "omar", "patricia", "dmitri", "rosa", "brian", "tasha"]
LAST = ["smith", "hernandez", "dixon", "johnson", "okafor", "williams", "nakamura", "brown", "fitzgerald", "garcia",
        "oconnor", "davis", "rodriguez", "baptiste", "miller", "nguyen", "pierre", "wilson", "kowalski", "jackson",
        "moore", "delacruz", "taylor", "lee", "washington", "hall", "young", "scott", "allen", "mendez"]
STREETS = ["NW 5th Ave", "Ocean Drive", "Palm Ct", "Main Street", "Sunrise Blvd", "Oak Lane", "Bayview Rd", "Coral Way"]
RACES = ["African-American", "Caucasian", "Hispanic", "Other", "Asian", "Native American"]


def people_like(rng, n):
    "Personal columns: full name, first, last, birth date, e-mail, phone, street address, SSN-shaped numbers."
    first, last = rng.choice(FIRST, n), rng.choice(LAST, n)
    dob = pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 57 * 365, n), unit="D")
    phone_fmt = ["({a}) {b}-{c}", "+1 {a} {b} {c}", "{a}.{b}.{c}"]
    return pd.DataFrame({
        "name": [f"{f} {l}" for f, l in zip(first, last)], "first": first, "last": last, "dob": dob.strftime("%Y-%m-%d"),
        "email": [f"{f}.{l}{i}@{rng.choice(['gmail.com', 'example.org', 'mail.net'])}" for i, (f, l) in enumerate(zip(first, last))],
        "phone": [phone_fmt[i % 3].format(a=rng.integers(200, 999), b=rng.integers(200, 999), c=f"{rng.integers(0, 9999):04d}")
                  for i in range(n)],
        "address": [f"{rng.integers(1, 9999)} {rng.choice(STREETS)}" for _ in range(n)],
        "ssn": [f"{rng.integers(100, 899):03d}-{rng.integers(10, 99):02d}-{rng.integers(1000, 9999):04d}" for _ in range(n)]})


def case_file(n=1500, seed=0) -> pd.DataFrame:
    "A criminal-justice export in the shape of the one in issue 18, with a learnable two-year outcome."
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 70, n)
    priors = np.minimum(rng.poisson(3, n) * rng.integers(0, 3, n), 38)
    juv_fel = np.minimum(rng.poisson(0.3, n), 20)
    decile = np.clip((priors / 3 + (45 - age) / 8 + rng.normal(5, 1.5, n)).round(), 1, 10).astype(int)
    race = rng.choice(RACES, n, p=[.5, .34, .09, .04, .02, .01])
    screening = pd.Timestamp("2013-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    logit = -0.8 + 0.18 * priors + 0.35 * juv_fel - 0.04 * (age - 35) + 0.1 * (decile - 5)
    recid = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    later = np.where(recid == 1, (screening + pd.to_timedelta(rng.integers(10, 700, n), unit="D")).strftime("%Y-%m-%d"), None)
    df = pd.concat([pd.DataFrame({"id": np.arange(1, n + 1)}), people_like(rng, n)], axis=1).assign(
        sex=rng.choice(["Male", "Female"], n, p=[.8, .2]), age=age,
        age_cat=np.select([age < 25, age <= 45], ["Less than 25", "25 - 45"], "Greater than 45"),
        race=race, race_code=pd.Series(race).map({r: i + 1 for i, r in enumerate(RACES)}).to_numpy(),
        juv_fel_count=juv_fel, juv_misd_count=np.minimum(rng.poisson(0.2, n), 13), priors_count=priors,
        decile_score=decile, score_text=np.select([decile <= 4, decile <= 7], ["Low", "Medium"], "High"),
        days_b_screening_arrest=np.where(rng.random(n) < 0.05, np.nan, rng.integers(-30, 30, n)),
        c_case_number=[f"{13 + i % 2}{rng.integers(0, 999999):06d}CF10A" for i in range(n)],
        c_offense_date=(screening - pd.to_timedelta(rng.integers(1, 60, n), unit="D")).strftime("%Y-%m-%d"),
        c_charge_degree=rng.choice(["F", "M"], n), compas_screening_date=screening.strftime("%Y-%m-%d"),
        r_offense_date=later,                                        # recorded after the prediction date
        violent_recid=None,                                          # every value missing
        type_of_assessment="Risk of Recidivism",                     # a single value
        in_custody_flag=np.where(rng.random(n) < 0.3, "Y", None),    # a single value, else missing
        two_year_recid=recid)
    df["decile_score.1"], df["priors_count.1"] = df["decile_score"], df["priors_count"]  # an export's repeated columns
    return df


PERSONAL = ["name", "first", "last", "dob", "email", "phone", "address", "ssn"]


def test_roles_on_a_case_file():
    "What init decides for each column, and why: the issue's five complaints, column by column."
    from mlops_nb.scaffold import infer_columns
    r = infer_columns(case_file(), "two_year_recid", sensitive=["race", "sex"], time_column="compas_screening_date")
    for c in ("age", "juv_fel_count", "juv_misd_count", "priors_count", "decile_score", "days_b_screening_arrest"):
        assert c in r["numeric"], (c, r["why"].get(c), r["exclude"].get(c))
    assert r["why"]["juv_fel_count"].startswith("integers, ") and "counts/scores stay numbers" in r["why"]["juv_fel_count"]
    assert set(r["categorical"]) == {"sex", "age_cat", "race", "score_text", "c_charge_degree"}
    ex = r["exclude"]
    assert (ex["violent_recid"], ex["type_of_assessment"]) == ("every value is missing", "a single value ('Risk of Recidivism')")
    assert ex["in_custody_flag"] == "a single value ('Y'), else missing"
    assert (ex["decile_score.1"], ex["priors_count.1"]) == ("same values as decile_score", "same values as priors_count")
    assert ex["race_code"] == "one-to-one with race (the same information, coded differently)"
    assert {c: s["action"] for c, s in r["pii"].items()} == {c: "drop" for c in PERSONAL}
    assert all(ex[c].startswith("personal data: ") for c in PERSONAL)
    assert r["pii"]["dob"]["why"] == "birth dates (column name)" and r["pii"]["ssn"]["why"] == "national identifiers (values and column name)"
    assert r["id"] == ["id", "c_case_number"]  # a case number is an id, not personal data
    assert ex["c_offense_date"].startswith("a date")


def test_personal_columns_by_values_alone():
    "Renamed to say nothing, names, e-mails, phones, addresses, SSNs and birth dates are still recognised by their values."
    from mlops_nb.pii import suggest_pii
    people = people_like(np.random.default_rng(1), 800)
    anon = people.set_axis([f"col{i}" for i in range(people.shape[1])], axis=1)
    found = {people.columns[int(c[3:])]: s["why"] for c, s in suggest_pii(anon).items()}
    # single names with 30 distinct values in 800 rows look like categories when the column's name says nothing
    assert set(found) == set(PERSONAL) - {"first", "last"}, found
    assert found["name"] == "person names (values: common first and last names)"
    assert found["dob"].startswith("birth dates (values")
    # and nothing of the case file's other columns: codes, counts, case numbers, charge degrees, recent dates
    others = case_file(600).drop(columns=PERSONAL)
    assert suggest_pii(others) == {}


SHAPES = {  # one column of each shape that made init's contract reject its own file, or could
    "all_missing": lambda n, rng: [None] * n,
    "all_missing_markers": lambda n, rng: rng.choice(["?", "NA", "null"], n),
    "constant": lambda n, rng: ["Risk of Recidivism"] * n,
    "constant_number": lambda n, rng: [7] * n,
    "constant_else_missing": lambda n, rng: np.where(rng.random(n) < 0.5, "Y", None),
    "nearly_all_missing": lambda n, rng: np.where(np.arange(n) < 5, rng.normal(size=n), np.nan),
    "duplicate": None,  # a copy of priors
    "dates_some_unreadable": lambda n, rng: np.where(rng.random(n) < 0.05, "unknown",
                                                     pd.Series(pd.date_range("2013-01-01", periods=n)).dt.strftime("%Y-%m-%d")),
    "names": lambda n, rng: [f"{f} {l}" for f, l in zip(rng.choice(FIRST, n), rng.choice(LAST, n))],
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_passes_its_own_contract(tmp_path, shape):
    "init's contract and prepare's checks (in process, no dvc) accept the file init read, whatever the column's shape."
    from mlops_nb import stages
    from mlops_nb.scaffold import init_project
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"priors": rng.integers(0, 21, n), "sex": rng.choice(["F", "M"], n), "y": rng.integers(0, 2, n)})
    df[shape] = df["priors"] if shape == "duplicate" else SHAPES[shape](n, rng)
    df.to_csv(tmp_path / "d.csv", index=False)
    roles = init_project(tmp_path / "p", tmp_path / "d.csv", "y", git=False)
    assert shape in roles["exclude"] or shape in roles["numeric"], roles  # nearly_all_missing: a (sparse) number
    summary = stages.prepare(tmp_path / "p")
    assert summary["rows_read"] == n and summary["rows_quarantined"] == 0
    rule = yaml.safe_load((tmp_path / "p/contract.yaml").read_text())["columns"][shape]
    if shape in roles["exclude"] and shape not in roles["pii"]:
        assert rule["role"] == "other" and rule["why"] == roles["exclude"][shape]


def test_init_command_prints_each_rule_and_takes_overrides(tmp_path, capsys):
    "`init` says which rule placed each column; --categorical/--numeric accumulate and override; --pii none opts out."
    from mlops_nb.cli import build_parser, main
    case_file(400).to_csv(tmp_path / "cases.csv", index=False)
    args = ["--data", str(tmp_path / "cases.csv"), "--target", "two_year_recid", "--no-git"]
    assert main(["init", str(tmp_path / "a"), *args, "--categorical", "decile_score", "--categorical", "juv_misd_count",
                 "c_charge_degree", "--numeric", "race_code"]) == 0
    out = capsys.readouterr().out
    assert "numeric juv_fel_count: integers, " in out and "(counts/scores stay numbers; --categorical to change)" in out
    assert "categorical decile_score: declared with --categorical" in out
    assert "excluded priors_count.1: same values as priors_count" in out and "excluded violent_recid: every value is missing" in out
    assert "personal data, written to data.pii" in out and "first: drop" in out
    p = yaml.safe_load((tmp_path / "a/params.yaml").read_text())["data"]
    assert {"decile_score", "juv_misd_count", "c_charge_degree"} <= set(p["categorical"]) and "race_code" in p["numeric"]
    assert p["pii"] == {c: "drop" for c in PERSONAL}
    contract = yaml.safe_load((tmp_path / "a/contract.yaml").read_text())["columns"]
    assert contract["decile_score"]["categories"] == list(range(1, 11))  # declared categorical: its values are listed
    assert contract["violent_recid"] == {"type": "float64", "role": "other", "nullable": True, "why": "every value is missing"}
    assert main(["init", str(tmp_path / "b"), *args, "--pii", "none"]) == 0
    assert yaml.safe_load((tmp_path / "b/params.yaml").read_text())["data"]["pii"] == {}
    a = build_parser().parse_args(["init", "p", *args, "--numeric", "a", "--numeric", "b", "c", "--categorical", "d"])
    assert (a.numeric, a.categorical, a.pii) == (["a", "b", "c"], ["d"], "suggest")


@pytest.mark.parametrize("flags, says", [
    (["--numeric", "sex"], "--numeric sex: 400 values are not numbers, e.g. ['"),
    (["--categorical", "decile"], "--categorical 'decile' is not a column of the data. Did you mean 'decile_score'?"),
    (["--categorical", "age", "--numeric", "age"], "['age'] given with both --numeric and --categorical"),
    (["--numeric", "violent_recid"], "--numeric violent_recid: every value is missing, so it cannot be a feature"),
])
def test_bad_overrides_fail_before_anything_is_made(tmp_path, capsys, flags, says):
    from mlops_nb.cli import main
    case_file(400).to_csv(tmp_path / "cases.csv", index=False)
    assert main(["init", str(tmp_path / "p"), "--data", str(tmp_path / "cases.csv"), "--target", "two_year_recid", *flags]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_a_personal_id_is_pseudonymized_and_the_key_asked_for(tmp_path):
    "A declared --id that looks personal stays an id, pseudonymized: init says the key must be set first."
    from mlops_nb.scaffold import init_project
    case_file(300).to_csv(tmp_path / "cases.csv", index=False)
    roles = init_project(tmp_path / "p", tmp_path / "cases.csv", "two_year_recid", ids=["ssn"], git=False)
    assert roles["pii"]["ssn"] == {"action": "pseudonymize", "why": "national identifiers (values and column name)"} and "ssn" in roles["id"]
    assert any("MLOPS_NB_PII_KEY" in n and "'ssn'" in n for n in roles["notes"])
    assert yaml.safe_load((tmp_path / "p/params.yaml").read_text())["data"]["pii"]["ssn"] == "pseudonymize"


@pytest.mark.slow
def test_first_dvc_repro_after_init_passes_on_a_case_file(tmp_path):
    "The issue's first complaint, end to end: init, then `dvc repro` on the same file, with every shape at once."
    case_file().to_csv(tmp_path / "compas.csv", index=False)
    root = tmp_path / "p"
    run(["mlops-nb", "init", str(root), "--data", str(tmp_path / "compas.csv"), "--target", "two_year_recid",
         "--sensitive", "race", "--time-column", "compas_screening_date", "--estimator", "logistic_regression"], tmp_path)
    params = root / "params.yaml"  # race's selection rates differ: the gate would stop the run, as it should; go on
    params.write_text(params.read_text().replace("fail_pipeline: true", "fail_pipeline: false"))
    run(["dvc", "repro"], root)
    prep = json.loads((root / "reports/data/prepare.json").read_text())
    assert prep["rows_read"] == 1500 and prep["rows_quarantined"] == 0 and prep["split"]["method"] == "time"
    train = pd.read_parquet(root / "data/prepared/train.parquet")
    assert not set(PERSONAL) & set(train.columns) and "priors_count.1" not in train.columns
    assert pd.api.types.is_integer_dtype(train["priors_count"])  # a count, given to the model as a number
    assert json.loads((root / "reports/metrics.json").read_text())["roc_auc"] > 0.6
    assert json.loads((root / "reports/registry.json").read_text())["version"]  # every stage ran
