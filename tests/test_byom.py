"""Bring your own model (issue 13): any estimator by import path or project factory, your own training notebook,
the params a stage reads injected into its notebook, and every later stage working on the user's model."""
import json, pickle, shutil, sys

import pandas as pd
import pytest
import yaml

from conftest import copy_built, make_project, run, synthetic
from mlops_nb import stages
from mlops_nb.core import ConfigError, MlopsError


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    "A small project after the prepare stage (in-process): copy it before changing params.yaml."
    root = make_project(tmp_path_factory.mktemp("byom"), synthetic(2000, seed=3))
    stages.prepare(root)
    return root


def set_train(root, **train):
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["train"].update(train)
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))


def downstream(root) -> dict:
    "Every stage after train, in-process, as the stage notebooks call them."
    ev, expl = stages.evaluate(root), stages.explain(root)
    stages.fairness(root)
    report, _ = stages.gate(root)
    return {"auc": ev.metrics["roc_auc"], "explain": expl, "gates": report, "register": stages.register(root)}


@pytest.mark.parametrize("estimator, package", [("lightgbm.LGBMClassifier", "lightgbm"), ("xgboost.XGBClassifier", "xgboost")])
def test_boosting_library_by_import_path(prepared, tmp_path, estimator, package):
    root = copy_built(prepared, tmp_path)
    set_train(root, estimator=estimator, hyperparameters={"n_estimators": 40, **({"verbose": -1} if package == "lightgbm" else {})})
    info = stages.train(root)
    model, _ = stages.load_model(root)
    assert info["estimator"] == estimator and type(model[-1]).__module__.split(".")[0] == package
    out = downstream(root)
    assert out["auc"] > 0.8
    e = out["explain"]  # exact tree SHAP on the raw (log-odds) output, additivity checked
    assert (e.explainer, e.output) == ("TreeExplainer", "log_odds") and e.additivity_error <= e.tolerance
    assert out["gates"].verdict == "pass" and out["register"]["alias"] == "challenger"
    import mlflow
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    reqs = mlflow.artifacts.load_text(f"runs:/{info['run_id']}/model/requirements.txt")
    dist = "lightgbm" if package == "lightgbm" else "xgboost-cpu"  # the CPU-only XGBoost wheel provides the xgboost module
    assert any(line.startswith(f"{dist}==") for line in reqs.splitlines()), reqs


def test_hyperparameters_are_checked_with_did_you_mean(prepared, tmp_path):
    root = copy_built(prepared, tmp_path)
    set_train(root, estimator="lightgbm.LGBMClassifier", hyperparameters={"n_estimator": 10})
    with pytest.raises(ConfigError, match=r"train.hyperparameters.n_estimator is not a parameter of LGBMClassifier\. Did you mean 'n_estimators'\?"):
        stages.train(root)


@pytest.mark.parametrize("estimator, message", [
    ("nosuchlib.Model", "train.estimator = 'nosuchlib.Model': no module named 'nosuchlib'. Install it"),
    ("sklearn.ensemble.RandomForestClasifier", "has no 'RandomForestClasifier'. Did you mean 'RandomForestClassifier'?"),
    ("model:bild", "has no function 'bild'. Did you mean 'build'?"),
    ("nomodule:build", "no module named 'nomodule'"),
    ("model:no_proba", "gives a LinearSVC, which has no predict_proba()"),
    ("notebook", "fitted in the project's nbs/pipeline/train.ipynb"),
])
def test_bad_estimator_names_the_key_value_and_fix(prepared, tmp_path, estimator, message):
    root = copy_built(prepared, tmp_path)
    (root / "model.py").write_text("from sklearn.linear_model import LogisticRegression\nfrom sklearn.svm import LinearSVC\n"
                                   "def build(params): return LogisticRegression()\ndef no_proba(params): return LinearSVC()\n")
    set_train(root, estimator=estimator)
    with pytest.raises(ConfigError) as e:
        stages.train(root)
    assert message in str(e.value) and "params.yaml: train.estimator" in str(e.value)
    assert not (root / "models/model.pkl").exists()  # nothing half-written


FACTORY = '''
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

class AddSum:  # the user's own class: pickled with the model, so model.py is not needed to load it
    def __call__(self, X):
        X = X.copy(); X["x_sum"] = X["x1"] + X["x2"]; return X

def build(params):
    return make_pipeline(FunctionTransformer(AddSum()),
                         make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["group"]), remainder="passthrough"),
                         LogisticRegression(C=params["C"]))
'''


def test_factory_in_the_project_with_its_own_features(prepared, tmp_path):
    "A Pipeline from model.py adding a feature: trained, explained model-agnostically on the raw columns, registered."
    root = copy_built(prepared, tmp_path)
    (root / "model.py").write_text(FACTORY)
    set_train(root, estimator="model:build", hyperparameters={"C": 0.25})
    info = stages.train(root)
    model, _ = stages.load_model(root)
    assert model[-1].C == 0.25 and info["estimator"] == "model:build"
    out = downstream(root)
    e = out["explain"]
    assert e.explainer == "KernelExplainer" and e.features == ["x1", "x2", "group"] and e.additivity_error <= e.tolerance
    assert out["auc"] > 0.8 and out["register"]["version"] == "1"
    (root / "model.py").unlink()
    sys.modules.pop("model", None)  # a new process: the project's module is gone
    again = pickle.loads((root / "models/model.pkl").read_bytes())
    X, _ = stages.training_data(root, "test")
    assert (again.predict_proba(X) == model.predict_proba(X)).all()
    from mlops_nb.integrity import load_version
    from mlops_nb.config import load_settings
    registered, _ = load_version(load_settings(root / "settings.ini"), "1")  # hash-checked load from the registry
    assert (registered.predict_proba(X) == model.predict_proba(X)).all()


def test_preprocess_none_gives_the_raw_columns(prepared, tmp_path):
    root = copy_built(prepared, tmp_path)
    set_train(root, estimator="lightgbm.LGBMClassifier", preprocess="none", hyperparameters={"n_estimators": 20, "verbose": -1})
    with pytest.raises(MlopsError, match=r"(?s)could not be fitted on the raw columns .*group: string.*set train.preprocess: auto"):
        stages.train(root)  # LightGBM takes no text column: the message says why and what to do
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["data"]["categorical"] = []
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    stages.train(root)
    model, _ = stages.load_model(root)
    assert [n for n, _ in model.steps] == ["model"] and list(model[-1].feature_names_in_) == ["x1", "x2"]
    assert stages.explain(root).explainer == "TreeExplainer"


def test_save_model_refuses_what_later_stages_could_not_use(prepared, tmp_path):
    from sklearn.linear_model import LogisticRegression
    root = copy_built(prepared, tmp_path)
    X, y = stages.training_data(root)
    X = X[["x1", "x2"]]
    with pytest.raises(MlopsError, match=r"cannot score X_train .*Fit it first"):
        stages.save_model(LogisticRegression(), X, y, root)
    with pytest.raises(MlopsError, match=r"column\(s\) \['x3'\] that data/prepared/train.parquet does not"):
        stages.save_model(LogisticRegression().fit(X.assign(x3=1.0), y), X.assign(x3=1.0), y, root)
    with pytest.raises(MlopsError, match="X_train has 1,500 rows but y_train 10"):
        stages.save_model(LogisticRegression().fit(X, y), X, y[:10], root)
    assert not (root / "models/model.json").exists()


@pytest.mark.slow
def test_own_training_notebook_end_to_end(tmp_path):
    """`init --train-notebook`: the user's notebook fits and calls save_model; `dvc repro` injects params.yaml's train
    section into it, and every later stage runs on the model it saved."""
    synthetic(2000, seed=4).to_csv(tmp_path / "d.csv", index=False)
    root = tmp_path / "p"
    run(["mlops-nb", "init", str(root), "--data", str(tmp_path / "d.csv"), "--target", "y", "--sensitive", "group",
         "--time-column", "period", "--train-notebook"], tmp_path)
    p = yaml.safe_load((root / "params.yaml").read_text())
    assert p["train"]["estimator"] == "notebook" and p["train"]["hyperparameters"] == {"max_iter": 200, "learning_rate": 0.1}
    p["train"]["hyperparameters"]["max_iter"] = 37
    p["explain"]["sample_size"] = 200
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    run(["dvc", "repro"], root)
    model, info = stages.load_model(root)
    assert model[-1].max_iter == 37 and info["estimator"] == "sklearn.HistGradientBoostingClassifier"
    nb = json.loads((root / "reports/notebooks/train.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and '"max_iter": 37' in "".join(injected[0]["source"])  # the executed notebook shows the values used
    assert json.loads((root / "reports/registry.json").read_text())["version"] == "1"
    # an edit of the notebook reruns train: DVC tracks the user's notebook
    status = run(["dvc", "status", "train"], root).stdout
    assert "changed" not in status
    nbp = root / "nbs/pipeline/train.ipynb"
    nbp.write_text(nbp.read_text().replace("random_state=0", "random_state=1"))
    assert "nbs/pipeline/train.ipynb" in run(["dvc", "status", "train"], root).stdout


@pytest.mark.slow
def test_user_stage_added_run_by_dvc_and_attached(fair_built, tmp_path):
    "`stage add`: the user's notebook runs as a DVC stage with its params injected, its report attached to the run."
    import nbformat
    root = copy_built(fair_built, tmp_path)
    out = run(["mlops-nb", "stage", "add", "summary", "--deps", "data/predictions/test.parquet", "--outs", "reports/summary.json",
               "--params", "evaluate", "--after", "evaluate"], root).stdout
    assert "added stage summary" in out
    nbp = root / "nbs/pipeline/summary.ipynb"
    nb = nbformat.read(nbp, as_version=4)
    assert "evaluate = {}" in nb.cells[1].source  # the starter's parameters cell names the section it reads
    nb.cells[2].source += ('\nimport json\npreds = pd.read_parquet(root / "data/predictions/test.parquet")\n'
                           '(root / "reports/summary.json").write_text(json.dumps({"threshold": evaluate["threshold"], '
                           '"selected": int((preds.score >= evaluate["threshold"]).sum())}))')
    nbformat.write(nb, nbp)
    listed = run(["mlops-nb", "stage", "list"], root).stdout
    assert "summary: nbs/pipeline/summary.ipynb" in listed and "reports/summary.json" in listed
    run(["dvc", "repro", "summary"], root)
    summary = json.loads((root / "reports/summary.json").read_text())
    assert summary["threshold"] == yaml.safe_load((root / "params.yaml").read_text())["evaluate"]["threshold"]
    assert (root / "reports/html/summary.html").exists()
    import mlflow
    info = json.loads((root / "models/model.json").read_text())
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    names = {a.path for folder in ("reports/notebooks", "reports/html") for a in client.list_artifacts(info["run_id"], folder)}
    assert {"reports/notebooks/summary.ipynb", "reports/html/summary.html"} <= names  # under their project paths
    # a declared output the notebook does not write fails the stage, naming it
    run(["mlops-nb", "stage", "add", "lazy", "--outs", "reports/lazy.csv"], root)
    r = run(["dvc", "repro", "lazy"], root, check=False)
    assert r.returncode != 0 and "declares output(s) reports/lazy.csv, which nbs/pipeline/lazy.ipynb did not write" in r.stderr + r.stdout


@pytest.mark.slow
def test_lightgbm_through_monitor_mitigation_card_and_dashboards(prepared, tmp_path):
    "The rest of the lifecycle on a LightGBM model: drift stage, promote, monitor with labels, card, pages, mitigation."
    from mlops_nb import card, monitor, panels, registry as R
    from mlops_nb.config import load_settings
    root = copy_built(prepared, tmp_path)
    set_train(root, estimator="lightgbm.LGBMClassifier", hyperparameters={"n_estimators": 40, "verbose": -1})
    run(["dvc", "repro"], root)  # the whole pipeline through the stage notebooks, by import path
    assert json.loads((root / "reports/registry.json").read_text())["alias"] == "challenger"
    expl = json.loads((root / "reports/explain/explain.json").read_text())
    assert (expl["explainer"], expl["model"]) == ("TreeExplainer", "LGBMClassifier")
    drift = json.loads((root / "reports/drift/drift.json").read_text())
    assert drift["prediction"]["kind"] == "numeric"  # the LightGBM scores are the prediction column
    from mlops_nb.access import os_user
    me = os_user()  # identity = os (init's default): the account by uid
    (root / "roles.yaml").write_text(f"users: {{{me}: admin}}\n")
    S = load_settings(root / "settings.ini")
    assert R.promote(S, "1", "LightGBM baseline", user=me).version == "1"
    batch = tmp_path / "batch.parquet"
    pd.read_parquet(root / "data/prepared/test.parquet").to_parquet(batch)  # the test window again, labels included
    res = monitor.monitor_batch(root, batch)
    assert res.rows > 0 and res.performance and 0.8 < res.performance["roc_auc"] <= 1
    md, html = card.write_card(S, "1", out_dir=tmp_path / "card", log=False)
    assert "| estimator | lightgbm.LGBMClassifier |" in md.read_text() and "lightgbm.LGBMClassifier" in html.read_text()
    from test_dashboards import texts
    for name, page in (("registry", panels.registry_panel(root, user=me)), ("explain", panels.explain_panel(root)),
                       ("fairness", panels.fairness_panel(root))):
        shown = texts(page)  # every page builds from the LightGBM results: no error box
        assert '<div class="mlops-error">' not in shown, (name, shown[shown.find('class="mlops-error"'):][:400])
    assert "LGBMClassifier" in texts(panels.explain_panel(root))
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["train"]["mitigation"] = {"feature": "group", "constraint": "demographic_parity", "min_group_size": 50}
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    stages.train(root); stages.evaluate(root); stages.fairness(root)
    model, _ = stages.load_model(root)
    assert type(model).__name__ == "GroupThresholdModel" and type(model.pipeline[-1]).__name__ == "LGBMClassifier"
    rows = json.loads((root / "reports/fairness/mitigation.json").read_text())["rows"]
    assert len(rows) == 2  # before and after, on the same test rows


@pytest.mark.slow
def test_feature_stage_between_prepare_and_train(fair_built, tmp_path):
    "A user stage adds a feature to the splits; data.splits points the model stages at its output; DVC runs it in between."
    import nbformat
    root = copy_built(fair_built, tmp_path)
    run(["mlops-nb", "stage", "add", "features", "--after", "prepare",
         "--outs", "data/features/train.parquet", "data/features/test.parquet"], root)
    nbp = root / "nbs/pipeline/features.ipynb"
    nb = nbformat.read(nbp, as_version=4)
    nb.cells[2].source += ('\n(root / "data/features").mkdir(exist_ok=True)\nfor split in ("train", "test"):\n'
                           '    df = pd.read_parquet(root / f"data/prepared/{split}.parquet")\n'
                           '    df.assign(x_sum=df.x1 + df.x2).to_parquet(root / f"data/features/{split}.parquet")')
    nbformat.write(nb, nbp)
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["data"]["splits"] = "data/features"
    p["data"]["numeric"] = p["data"]["numeric"] + ["x_sum"]
    p["data"]["derived"] = ["x_sum"]  # added by the feature stage, not in the raw data
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    out = run(["dvc", "repro"], root).stdout
    ran = [s for s in __import__("re").findall(r"Running stage '(\w+)'", out)]
    assert ran.index("prepare") < ran.index("features") < ran.index("train")  # data params changed: all three, in order
    model, info = stages.load_model(root)
    assert "x_sum" in list(model.feature_names_in_) and "x_sum" in info["features"]
    expl = json.loads((root / "reports/explain/explain.json").read_text())
    assert "x_sum" in expl["features"]
    assert json.loads((root / "reports/registry.json").read_text())["version"] == "2"


def test_derived_feature_must_be_a_listed_feature():
    from mlops_nb.config import parse_params
    from mlops_nb.data import check_columns
    raw = pd.DataFrame({"x1": [1.0], "y": [0]})
    d = parse_params({"data": {"path": "d.csv", "target": "y", "numeric": ["x1", "x_sum"], "derived": ["x_sum"]}}).data
    check_columns(raw, d, "d.csv")  # x_sum comes later, from the feature stage
    d = parse_params({"data": {"path": "d.csv", "target": "y", "numeric": ["x1"], "derived": ["x_sum"]}}).data
    with pytest.raises(ConfigError, match="data.derived names 'x_sum', which is in neither data.numeric nor data.categorical"):
        check_columns(raw, d, "d.csv")
