"""Registry lifecycle: roles, promote/rollback/retire, audit log, artifact integrity, concurrency.

Runs against the embedded sqlite store, and against an MLflow server on PostgreSQL when
MLOPS_NB_TEST_SERVER_URI is set (tools/team_server.sh starts one; MLOPS_NB_TEST_SERVER_ARTIFACTS
names its artifact root, needed by the tampering test). Versions are built without DVC: a tiny
sklearn model logged with MLflow and registered with the tags the register stage sets."""
import json, os, subprocess, sys, textwrap, time, uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

mlflow = pytest.importorskip("mlflow")
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression

from mlops_nb import access, audit as AU, card, core, integrity, registry as R
from mlops_nb.config import MlflowSettings, Settings

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
ROLES = "users: {alice: approver, bob: approver, carol: data-scientist, root: admin}\ngroups:\n  leads: {role: approver, members: [dave]}\n"
SERVER = os.environ.get("MLOPS_NB_TEST_SERVER_URI")
STORES = ["sqlite", pytest.param("server", marks=[pytest.mark.server, pytest.mark.skipif(not SERVER, reason=(
    "MLOPS_NB_TEST_SERVER_URI is not set: run tools/team_server.sh start (.ci/run does)"))])]


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory):
    return tmp_path_factory.mktemp("store") / "mlflow.db"


@pytest.fixture(params=STORES)
def S(request, sqlite_db, tmp_path, monkeypatch):
    "Settings for a fresh model name in the store under test; roles.yaml and the audit log in tmp_path."
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.setenv("MLOPS_NB_USER", "nobody")  # restored after the test; `as_` sets it per action
    (tmp_path / "roles.yaml").write_text(ROLES)
    uri = f"sqlite:///{sqlite_db}" if request.param == "sqlite" else SERVER
    tag = uuid.uuid4().hex[:8]
    return Settings(mlflow=MlflowSettings(tracking_uri=uri, model_name=f"m-{tag}", experiment=f"e-{tag}"),
                    registry={"identity": "env"}, root=tmp_path)


def as_(name: str) -> str:
    "Act as `name`: these test projects trust MLOPS_NB_USER (identity = env); the action checks `user=` against it."
    os.environ["MLOPS_NB_USER"] = name
    return name


def log_model(S, seed=0) -> str:
    "Log a tiny LogisticRegression to a new run; return its model URI."
    from mlops_nb import tracking
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)}); y = (X.a + X.b > 0).astype(int)
    exp = tracking.connect(S)
    with mlflow.start_run(experiment_id=exp):
        mlflow.log_metric("test_roc_auc", 0.9)
        info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", pip_requirements=["scikit-learn"],
                                        serialization_format="cloudpickle")
    return info.model_uri


def register(S, uri, status="passed", seal=True) -> str:
    "Register like the register stage: validation_status and gate tags, then seal the artifact."
    tags = {"validation_status": status, "gate.performance.floor.roc_auc": "pass: 0.9 >= 0.7" if status == "passed"
            else "FAIL: 0.6 >= 0.7"}
    mv = mlflow.register_model(uri, S.mlflow.model_name, tags=tags)
    if seal: integrity.seal_version(S, mv.version)
    return str(mv.version)


def champion(S):
    return str(mlflow.MlflowClient().get_model_version_by_alias(S.mlflow.model_name, "champion").version)


def audit(S, **match):
    return [e for e in AU.read_audit(AU.audit_path(S)) if all(e.get(k) == v for k, v in match.items())]


@pytest.fixture
def three(S):
    "Versions 1, 2 (passed) and 3 (failed) of one model; returns them as strings."
    uri = log_model(S)
    return register(S, uri), register(S, uri), register(S, uri, "failed")


def test_unauthorised_promote_and_rollback_refused_and_audited(S, three):
    v1, v2, _ = three
    with pytest.raises(access.PermissionDenied, match=r"eve \(role viewer.*needs the role approver"):
        R.promote(S, v1, "let me", user=as_("eve"))
    with pytest.raises(access.PermissionDenied, match="carol .role data-scientist"):
        R.promote(S, v1, "let me", user=as_("carol"))
    R.promote(S, v1, "first", user=as_("dave"))  # approver through the group 'leads'
    R.promote(S, v2, "second", user=as_("alice"))
    with pytest.raises(access.PermissionDenied):
        R.rollback(S, "nope", user=as_("carol"))
    with pytest.raises(core.LifecycleError, match="needs a comment"):
        R.promote(S, v1, "  ", user=as_("alice"))
    assert champion(S) == v2
    refused = audit(S, outcome="refused")
    assert [(e["user"], e["role"], e["action"]) for e in refused] == [
        ("eve", "viewer", "promote"), ("carol", "data-scientist", "promote"), ("carol", "data-scientist", "rollback"),
        ("alice", "approver", "promote")]
    assert all(e["reason"] for e in refused)
    assert AU.verify_audit(AU.audit_path(S)).ok


def test_gate_failed_and_retired_refused(S, three):
    v1, v2, v3 = three
    with pytest.raises(core.LifecycleError, match=r"validation_status 'failed'.*performance.floor.roc_auc"):
        R.promote(S, v3, "looks fine to me", user=as_("alice"))
    with pytest.raises(access.PermissionDenied, match="needs the role admin"):
        R.retire(S, v2, "old", user=as_("alice"))
    R.retire(S, v2, "superseded", user=as_("root"))
    with pytest.raises(core.LifecycleError, match="is retired"):
        R.promote(S, v2, "bring it back", user=as_("alice"))
    rows = {r["version"]: r for r in R.list_versions(S)}
    assert rows[v2]["retired"] and rows[v3]["validation_status"] == "failed" and rows[v3]["failed_gates"]
    R.unretire(S, v2, "needed after all", user=as_("root"))
    R.promote(S, v2, "ok now", user=as_("alice"))
    with pytest.raises(core.LifecycleError, match="is the champion"):
        R.retire(S, v2, "no", user=as_("root"))
    assert [e["outcome"] for e in audit(S, version=v3)] == ["refused"]


def test_rollback_restores_previous_champion(S, three):
    v1, v2, _ = three
    with pytest.raises(core.LifecycleError, match="no earlier champion"):
        R.rollback(S, "nothing yet", user=as_("alice"))
    R.promote(S, v1, "first", user=as_("alice"))
    d = R.promote(S, v2, "better", user=as_("bob"))
    assert d.previous_version == v1 and champion(S) == v2
    d = R.rollback(S, "v2 misbehaves in production", user=as_("alice"))
    assert (d.version, d.previous_version) == (v1, v2) and champion(S) == v1
    m = mlflow.sklearn.load_model(f"models:/{S.mlflow.model_name}@champion")
    model, mv = integrity.load_champion(S)
    assert str(mv.version) == v1 and type(m) is type(model)
    R.promote(S, v2, "fixed upstream", user=as_("alice"))
    R.rollback(S, "again", to_version=v1, user=as_("alice"))
    assert champion(S) == v1
    with pytest.raises(core.LifecycleError, match="never champion before"):
        R.rollback(S, "x", to_version="3", user=as_("alice"))
    R.promote(S, v2, "third time", user=as_("alice"))
    # rollback must refuse a retired earlier champion
    mlflow.MlflowClient().set_model_version_tag(S.mlflow.model_name, v1, R.RETIRED_TAG, "true")
    with pytest.raises(core.LifecycleError, match="is retired"):
        R.rollback(S, "to a retired one", user=as_("alice"))
    h = R.history(S)
    assert [(e["action"], e["version"], e["previous_version"]) for e in h] == [
        ("promote", v1, None), ("promote", v2, v1), ("rollback", v1, v2), ("promote", v2, v1), ("rollback", v1, v2),
        ("promote", v2, v1)]
    tags = mlflow.MlflowClient().get_model_version(S.mlflow.model_name, v2).tags
    assert tags["mlops_nb.last_action"].startswith("promote by alice (approver)") and tags["mlops_nb.last_action"].endswith("comment: third time")
    info = R.show(S, v2)
    assert info["aliases"] == ["champion"] and info["metrics"]["test_roc_auc"] == 0.9 and len(info["history"]) == 3


def _artifact_file(S, version) -> Path:
    "The stored model.pkl of a version in the store's artifact folder."
    mv = mlflow.MlflowClient().get_model_version(S.mlflow.model_name, version)
    model_id = mv.source.rsplit("/", 1)[-1]
    roots = [S.artifact_root] if S.tracking_uri.startswith("sqlite") else [Path(os.environ["MLOPS_NB_TEST_SERVER_ARTIFACTS"])]
    hits = [p for r in roots for p in r.rglob("model.pkl") if model_id in p.parts]
    assert hits, f"no model.pkl for {model_id} under {roots}"
    return hits[0]


def test_tampered_artifact_refused(S):
    if not S.tracking_uri.startswith("sqlite") and not os.environ.get("MLOPS_NB_TEST_SERVER_ARTIFACTS"):
        pytest.skip("MLOPS_NB_TEST_SERVER_ARTIFACTS not set")
    v_ok = register(S, log_model(S, 1))
    v = register(S, log_model(S, 2))
    R.promote(S, v_ok, "baseline", user=as_("alice"))
    p = _artifact_file(S, v)
    p.write_bytes(p.read_bytes() + b"\0")
    with pytest.raises(integrity.IntegrityError, match=r"model.pkl do not match the SHA-256 recorded at registration"):
        integrity.load_version(S, v)
    with pytest.raises(integrity.IntegrityError, match="refusing"):
        R.promote(S, v, "tampered", user=as_("alice"))
    assert champion(S) == v_ok and audit(S, version=v)[-1]["outcome"] == "refused"
    unsealed = register(S, log_model(S, 3), seal=False)
    with pytest.raises(integrity.IntegrityError, match="no recorded artifact SHA-256"):
        integrity.load_version(S, unsealed)
    assert str(integrity.load_champion(S)[1].version) == v_ok


def test_swapped_model_file_cannot_be_resealed_quietly(S):
    "Replace a version's pickle and seal it again: refused; only an admin's audited `seal` with a reason re-seals."
    if not S.tracking_uri.startswith("sqlite") and not os.environ.get("MLOPS_NB_TEST_SERVER_ARTIFACTS"):
        pytest.skip("MLOPS_NB_TEST_SERVER_ARTIFACTS not set")
    v = register(S, log_model(S, 4))
    sealed = mlflow.MlflowClient().get_model_version(S.mlflow.model_name, v).tags[integrity.SEAL_TAG]
    p = _artifact_file(S, v)
    p.write_bytes(p.read_bytes() + b"\0")  # the swap
    with pytest.raises(integrity.IntegrityError, match="already sealed .* a seal is written once"):
        integrity.seal_version(S, v)
    with pytest.raises(integrity.IntegrityError, match="do not match the SHA-256 recorded at registration"):
        integrity.load_version(S, v)  # still caught at load
    with pytest.raises(access.PermissionDenied):
        R.seal(S, v, "it is fine", user=as_("alice"))  # an approver may not re-seal
    d = R.seal(S, v, "retrained artifact replaced on purpose", user=as_("root"))
    e = audit(S, action="seal", version=v)[-1]
    assert d.action == "seal" and e["previous_seal"] == sealed and e["artifact_sha256"] != sealed and e["user"] == "root"


def test_tampered_audit_log_detected(S, three):
    v1, v2, _ = three
    R.promote(S, v1, "a", user=as_("alice")); R.promote(S, v2, "b", user=as_("alice"))
    R.rollback(S, "c", user=as_("alice")); R.promote(S, v2, "d", user=as_("bob"))
    p = AU.audit_path(S)
    good = p.read_text().splitlines()
    assert AU.verify_audit(p, R.audit_heads(S)).ok and len(good) == 4

    def check(lines, heads=None):
        p.write_text("\n".join(lines) + "\n")
        return AU.verify_audit(p, heads).problems

    edited = json.loads(good[1]); edited["comment"] = "approved by the board"
    probs = check([good[0], json.dumps(edited), *good[2:]])
    assert probs and probs[0].startswith("line 2 (seq 2, promote") and "edited" in probs[0]
    rehashed = dict(edited); rehashed["hash"] = AU.entry_hash(rehashed)  # edited and re-hashed: the next link breaks
    probs = check([good[0], json.dumps(rehashed), *good[2:]])
    assert probs and probs[0].startswith("line 3 (seq 3)") and "chain was broken" in probs[0]
    probs = check([good[0], *good[2:]])
    assert probs == ["line 2: seq jumps from 1 to 3: 1 entry deleted before this line."]
    probs = check([good[0], good[2], good[1], good[3]])
    assert "line 2: seq jumps" in probs[0] and "line 3: seq 2 comes after seq 3: entries were reordered" in probs[1]
    probs = check(good[:3], R.audit_heads(S))
    assert len(probs) == 1 and "deleted from the end" in probs[0]
    p.write_text("\n".join(good) + "\n")
    # the CLI handler fails (non-zero exit through MlopsError) and names the line
    import argparse
    ap = argparse.ArgumentParser(); R.add_commands(ap.add_subparsers(dest="command"))
    args = ap.parse_args(["audit", "verify", str(p), "--offline"])
    args.func(args)
    p.write_text("\n".join([good[0], *good[2:]]) + "\n")
    with pytest.raises(AU.AuditError, match="tampered"):
        args.func(args)


CHILD = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from mlops_nb import core, integrity, registry as R
    from mlops_nb.config import MlflowSettings, Settings
    uri, root, name, exp, version, user, start = sys.argv[1:8]
    S = Settings(mlflow=MlflowSettings(tracking_uri=uri, model_name=name, experiment=exp), registry={"identity": "env"},
                 root=Path(root))
    integrity._client(S)  # connect before the start line, so both race on the action itself
    time.sleep(max(0, float(start) - time.time()))
    try:
        import os; os.environ["MLOPS_NB_USER"] = user
        d = R.promote(S, version, f"{user} promotes {version}", user=user, expected_champion="1")
        print(json.dumps({"user": user, "outcome": "done", "version": d.version}))
    except core.RegistryError as e:
        print(json.dumps({"user": user, "outcome": type(e).__name__, "message": str(e)}))
""")


def test_concurrent_promotions_consistent(S):
    uri = log_model(S)
    v1, v2, v3 = register(S, uri), register(S, uri), register(S, uri)
    R.promote(S, v1, "baseline", user=as_("alice"))
    start = time.time() + 8  # both children import mlflow and connect first, then start together
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # each child sets MLOPS_NB_USER to its user (identity = env)
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, S.tracking_uri, str(S.root), S.mlflow.model_name,
                               S.mlflow.experiment, v, u, str(start)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for v, u in ((v2, "alice"), (v3, "bob"))]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    done = [o for o in outs if o["outcome"] == "done"]
    lost = [o for o in outs if o["outcome"] != "done"]
    assert len(done) == 1 and len(lost) == 1, outs
    assert lost[0]["outcome"] == "ConcurrentUpdate" and "champion changed since you looked" in lost[0]["message"]
    assert champion(S) == done[0]["version"]
    entries = AU.read_audit(AU.audit_path(S))[1:]
    assert sorted((e["user"], e["outcome"]) for e in entries) == sorted(
        [(done[0]["user"], "done"), (lost[0]["user"], "refused")])
    assert AU.verify_audit(AU.audit_path(S), R.audit_heads(S)).ok
    assert json.loads(mlflow.MlflowClient().get_registered_model(S.mlflow.model_name).tags[R.STACK_TAG]) == ["1", done[0]["version"]]


def test_model_card(S, three, tmp_path):
    v1, _, _ = three
    (tmp_path / "params.yaml").write_text("data: {target: y, numeric: [a, b]}\ncard:\n  intended_use: demo only\n"
                                          "  owner: team-ml\n  limitations: [trained on 50 rows]\n")
    R.promote(S, v1, "first", user=as_("alice"))
    md, ht = card.write_card(S, v1)
    text = md.read_text()
    for s in ("version 1", "demo only", "team-ml", "trained on 50 rows", "test_roc_auc", "performance.floor.roc_auc",
              "| promote | done | alice | approver | first |", "not recorded"):
        assert s in text, s
    assert ht.read_text().startswith("<!DOCTYPE html>") and "<script" not in ht.read_text()
    arts = [a.path for a in mlflow.MlflowClient().list_artifacts(R.show(S, v1)["run_id"], "model_card/v1")]
    assert arts == ["model_card/v1/model_card.html", "model_card/v1/model_card.md"]


def test_model_name_is_optional_on_the_cli():
    "`models show 5` means the project's model (settings.ini); `models show NAME 5` and the old `''` still work."
    from mlops_nb.cli import build_parser
    p = build_parser()
    for argv, want in ((["models", "show", "5"], ("", "5")), (["models", "show", "m", "5"], ("m", "5")),
                       (["models", "show", "", "5"], ("", "5")), (["models", "promote", "7", "-m", "ok"], ("", "7"))):
        a = p.parse_args(argv)
        assert (a.name, a.version) == want, argv
    assert p.parse_args(["models", "list"]).name == "" and p.parse_args(["models", "history", "m"]).name == "m"


def test_emptied_log_and_unreachable_mlflow_fail_verify(S, three):
    "An emptied audit log does not verify as '0 entries, intact', and an unreachable MLflow fails verify unless --offline."
    import argparse
    v1, _, _ = three
    R.promote(S, v1, "a", user=as_("alice"))
    root, p = S.root, AU.audit_path(S)
    ini = lambda uri: (root / "settings.ini").write_text(
        f"[mlflow]\ntracking_uri = {uri}\nmodel_name = {S.mlflow.model_name}\nexperiment = {S.mlflow.experiment}\nrequest_timeout = 2\n")
    ini(S.tracking_uri)
    ap = argparse.ArgumentParser(); R.add_commands(ap.add_subparsers(dest="command"))
    verify = lambda *extra: (lambda a: a.func(a))(ap.parse_args(["audit", "verify", "--root", str(root), *extra]))
    verify()  # intact
    good = p.read_text()
    p.write_text("")  # the whole history erased
    with pytest.raises(AU.AuditError, match="tampered"):
        verify()
    p.write_text(good)
    ini("http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(AU.AuditError, match="could not be checked.*--offline"):
        verify()
    verify("--offline")  # the file's own chain, when asked for explicitly


def test_models_show_reads_as_text(S, three, capsys):
    "`models show` for a person: aliases, validation, seal, gates, history; --json keeps everything."
    import argparse
    v1, _, v3 = three
    R.promote(S, v1, "first model", user=as_("alice"))
    text = R.show_text(R.show(S, v1))
    assert text.startswith(f"model '{S.mlflow.model_name}' version {v1}  (@champion)") and "validation   passed" in text
    assert "sealed, SHA-256" in text and "PASS  performance.floor.roc_auc" in text and "promote   done     by alice (approver): first model" in text
    assert "FAIL  performance.floor.roc_auc" in R.show_text(R.show(S, v3))
    assert not text.lstrip().startswith("{")
