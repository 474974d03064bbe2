"""Governance against a team member with ordinary access: each attack of issue 15 as its own test.

The attacker can set environment variables in their own process, pass any argument to the library, call MLflow's
API and write the audit log's file. Versions are built without DVC (a tiny model logged and registered with the tags
the register stage sets), on a sqlite store shared by the module; each test has its own project folder and model."""
import json, os, pwd, secrets, subprocess, sys, threading, uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression

from mlops_nb import access, audit as AU, core, integrity, registry as R, tracking
from mlops_nb.cli import build_parser
from mlops_nb.config import load_settings

ME = pwd.getpwuid(os.getuid()).pw_name  # the OS account running the tests (not named in the roles below)
ROLES = "users: {alice: approver, bob: viewer}\n"
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(autouse=True)
def _no_identity_vars(monkeypatch):
    for v in ("MLOPS_NB_USER", "JUPYTERHUB_USER", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_API_URL", "HTTP_X_FORWARDED_USER",
              "VOILA_KERNEL_ID"):
        monkeypatch.delenv(v, raising=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("gov-store")


def project(root: Path, store: Path, registry: str = "", roles: str = ROLES):
    "A project folder: settings.ini (the shared store, a fresh model; `registry`: [registry] lines) and roles.yaml."
    root.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    (root / "settings.ini").write_text(f"[mlflow]\ntracking_uri = sqlite:///{store}/mlflow.db\nartifact_root = {store}/art\n"
                                       f"model_name = m-{tag}\nexperiment = e-{tag}\n[registry]\n{registry}")
    (root / "roles.yaml").write_text(roles)
    return load_settings(root / "settings.ini")


def add_versions(S, n=2) -> list[str]:
    "`n` versions that passed their gates, logged, sealed and recorded as the train and register stages do."
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)}); y = (X.a + X.b > 0).astype(int)
    logged = tracking.log_training(S, LogisticRegression().fit(X, y), X, {"train": {}}, {"git.commit": "test"})
    out = []
    for _ in range(n):
        mv = mlflow.register_model(logged.model_uri, S.mlflow.model_name, tags={"validation_status": "passed"})
        integrity.seal_version(S, mv.version); R.record_registration(S, mv.version); out.append(str(mv.version))
    return out


def champion(S):
    try: return str(mlflow.MlflowClient().get_model_version_by_alias(S.mlflow.model_name, "champion").version)
    except mlflow.exceptions.MlflowException: return None


def last_entry(S) -> dict:
    return AU.read_audit(AU.audit_path(S))[-1]


def cli(*argv):
    "Run an `mlops-nb` command in this process (its handler raises an MlopsError where the CLI exits non-zero)."
    a = build_parser().parse_args(list(argv))
    return a.func(a)


# ---------------------------------------------------------------- identity: the name on a decision

def test_mlops_nb_user_is_ignored_with_identity_os(tmp_path, store, monkeypatch):
    S = project(tmp_path / "p", store)  # identity: the default, os
    v1, _ = add_versions(S)
    monkeypatch.setenv("MLOPS_NB_USER", "alice")  # alice is an approver; the attacker is not
    monkeypatch.setenv("USER", "alice"); monkeypatch.setenv("LOGNAME", "alice")  # what getpass.getuser() would read
    assert access.resolve_identity(S) == access.Identity(ME, "os")
    with pytest.raises(access.PermissionDenied, match=rf"{ME} \(role viewer, from os\) may not promote"):
        R.promote(S, v1, "I am alice")
    assert champion(S) is None
    e = last_entry(S)
    assert (e["user"], e["identity_source"], e["outcome"]) == (ME, "os", "refused")


def test_jupyterhub_user_variable_alone_is_ignored(tmp_path, store, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    S = project(tmp_path / "p", store)
    v1, _ = add_versions(S)
    with pytest.raises(access.PermissionDenied, match=rf"{ME} \(role viewer, from os\)"):
        R.promote(S, v1, "the hub says I am alice")
    hub = project(tmp_path / "hub", store, "identity = jupyterhub\nhub_api_url = http://127.0.0.1:9/hub/api\n")
    with pytest.raises(access.IdentityError, match="JUPYTERHUB_API_TOKEN is not set"):
        access.resolve_identity(hub)  # the variable alone names nobody
    assert champion(S) is None


def test_user_argument_from_a_library_caller_is_not_trusted(tmp_path, store):
    S = project(tmp_path / "p", store)
    v1, _ = add_versions(S)
    for claim in ("alice", access.Identity("alice", "os")):
        with pytest.raises(access.PermissionDenied, match=rf"as 'alice', but this process acts for {ME} .*never trusted"):
            R.promote(S, v1, "trust me", user=claim)
    assert champion(S) is None
    e = last_entry(S)
    assert (e["user"], e["outcome"]) == (ME, "refused") and "'alice'" in e["reason"]


def test_identity_settings_cannot_be_set_from_the_environment(tmp_path, store):
    "MLOPS_NB_REGISTRY_IDENTITY=env MLOPS_NB_USER=alice, or a roles file of one's own: an error, not a promotion."
    S = project(tmp_path / "p", store)
    v1, _ = add_versions(S)
    (tmp_path / "mine.yaml").write_text(f"users: {{{ME}: admin}}\n")
    for var, val in (("MLOPS_NB_REGISTRY_IDENTITY", "env"), ("MLOPS_NB_REGISTRY_ROLES", str(tmp_path / "mine.yaml")),
                     ("MLOPS_NB_REGISTRY_AUDIT_KEY_FILE", "")):
        with pytest.raises(core.ConfigError, match=rf"{var}: .* read from .*settings.ini only.*Unset {var}"):
            load_settings(S.root / "settings.ini", environ={var: val, "MLOPS_NB_USER": "alice"})
    env = {**os.environ, "MLOPS_NB_REGISTRY_IDENTITY": "env", "MLOPS_NB_USER": "alice",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    r = subprocess.run([str(Path(sys.executable).parent / "mlops-nb"), "models", "promote", v1, "-m", "as alice"], cwd=S.root,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode != 0 and "Unset MLOPS_NB_REGISTRY_IDENTITY" in r.stderr + r.stdout
    assert champion(S) is None


def test_env_identity_only_where_the_project_chooses_it(tmp_path, store, monkeypatch):
    S = project(tmp_path / "p", store, "identity = env\n")
    with pytest.raises(access.IdentityError, match="MLOPS_NB_USER is not set"):
        access.resolve_identity(S)
    monkeypatch.setenv("MLOPS_NB_USER", "alice")
    assert access.resolve_identity(S) == access.Identity("alice", "MLOPS_NB_USER")


def test_proxy_header_is_not_read_outside_a_dashboards_request(tmp_path, store, monkeypatch):
    (tmp_path / "p").mkdir(); (tmp_path / "p" / "audit.key").write_text(secrets.token_hex(32))
    S = project(tmp_path / "p", store, "identity = header\nidentity_header = X-Forwarded-User\naudit_key_file = audit.key\n")
    monkeypatch.setenv("HTTP_X_FORWARDED_USER", "alice")  # what a library caller can set in their own kernel
    assert access.resolve_identity(S) == access.Identity(ME, "os")
    monkeypatch.setenv("VOILA_KERNEL_ID", "k")  # a kernel Voila started for a request through the proxy
    assert access.resolve_identity(S) == access.Identity("alice", "header")


class _FakeHub(BaseHTTPRequestHandler):
    "A server of the attacker's own that answers every token with alice."
    def do_GET(self):
        body = json.dumps({"kind": "user", "name": "alice"}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass


@pytest.mark.server
def test_jupyterhub_token_for_bob_gives_bob(tmp_path, store, monkeypatch):
    "A real JupyterHub (6.1.1, tests/hub_support.py): the owner of the server's token is who acts, whatever else is set."
    from hub_support import running_hub
    bob, alice = "bob-" + secrets.token_hex(16), "alice-" + secrets.token_hex(16)
    fake = HTTPServer(("127.0.0.1", 0), _FakeHub)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    try:
        with running_hub(tmp_path / "hub", {bob: "bob", alice: "alice"}) as url:
            S = project(tmp_path / "p", store, f"identity = jupyterhub\nhub_api_url = {url}\n")
            v1, _ = add_versions(S)
            monkeypatch.setenv("JUPYTERHUB_API_TOKEN", bob)
            monkeypatch.setenv("JUPYTERHUB_USER", "alice")
            monkeypatch.setenv("JUPYTERHUB_API_URL", f"http://127.0.0.1:{fake.server_address[1]}/hub/api")
            assert access.resolve_identity(S) == access.Identity("bob", "jupyterhub")
            with pytest.raises(access.PermissionDenied, match=r"bob \(role viewer, from jupyterhub\)"):
                R.promote(S, v1, "bob tries")
            monkeypatch.setenv("JUPYTERHUB_API_TOKEN", alice)
            d = R.promote(S, v1, "alice reviewed it")
            assert (d.user, last_entry(S)["identity_source"], champion(S)) == ("alice", "jupyterhub", v1)
            monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "not-a-token")
            with pytest.raises(access.IdentityError, match=r"refused this server's API token \(HTTP 403\)"):
                access.resolve_identity(S)
    finally:
        fake.shutdown(); fake.server_close()


def test_a_page_whose_viewer_cannot_be_identified_is_view_only(tmp_path, store):
    "identity = env without MLOPS_NB_USER: the registry page still reads, as 'anonymous', with every action off."
    from mlops_nb import dashboard_data
    S = project(tmp_path / "p", store, "identity = env\n")
    add_versions(S, 1)
    st = dashboard_data.registry_state(S.root)
    assert (st.user, st.role, st.identity_source) == ("anonymous", "viewer", "identity unknown")
    assert not any(st.allowed.values()) and [r["version"] for r in st.versions] == ["1"]


# ---------------------------------------------------------------- the audit log

def test_consistent_rewrite_of_the_audit_log_fails_verify(tmp_path, store, monkeypatch, capsys):
    "Change one entry and recompute every hash (and the head tag in MLflow): only the HMACs catch it."
    root = tmp_path / "p"; root.mkdir()
    (root / "audit.key").write_text(secrets.token_hex(32)); (root / "audit.key").chmod(0o600)  # the service account's
    S = project(root, store, "identity = env\naudit_key_file = audit.key\n")
    v1, v2 = add_versions(S)
    monkeypatch.setenv("MLOPS_NB_USER", "alice")
    R.promote(S, v1, "first"); R.promote(S, v2, "second")
    cli("audit", "verify", "--root", str(root))
    assert "entry HMACs: every entry written with the audit key" in capsys.readouterr().out
    p = AU.audit_path(S)
    entries, prev = [json.loads(x) for x in p.read_text().splitlines()], AU.GENESIS
    assert all(e.get("hmac") for e in entries)
    for e in entries:  # the attacker's rewrite: mallory approved v1; every hash recomputed
        if e["version"] == v1: e["user"] = "mallory"
        e.pop("hmac"); e["prev_hash"] = prev; e["hash"] = AU.entry_hash(e); prev = e["hash"]
    p.write_text("".join(json.dumps(e) + "\n" for e in entries))
    mlflow.MlflowClient().set_registered_model_tag(S.mlflow.model_name, R.HEAD_TAG, f"{entries[-1]['seq']}:{prev}")
    with pytest.raises(AU.AuditError, match="tampered"):
        cli("audit", "verify", "--root", str(root))
    assert "carries an HMAC although an audit key is configured" in capsys.readouterr().out
    # the same rewrite without a key configured passes, and verify says what it could not check
    (root / "settings.ini").write_text((root / "settings.ini").read_text().replace("audit_key_file = audit.key\n", ""))
    cli("audit", "verify", "--root", str(root))
    assert "NOT CHECKED: entry HMACs: no [registry] audit_key_file" in capsys.readouterr().out


def test_a_process_without_the_audit_key_records_nothing(tmp_path, store, monkeypatch):
    "With a key configured, a process that cannot read it (a team member's own kernel) is refused before anything moves."
    S = project(tmp_path / "p", store, "identity = env\naudit_key_file = /nonexistent/audit.key\n")
    v1, _ = add_versions(S)
    monkeypatch.setenv("MLOPS_NB_USER", "alice")
    with pytest.raises(AU.AuditError, match="cannot be read by this process"):
        R.promote(S, v1, "without the key")
    assert champion(S) is None and not AU.audit_path(S).exists()


# ---------------------------------------------------------------- concurrency and refusals

def test_promote_names_the_champion_it_replaces(tmp_path, store, monkeypatch, capsys):
    S = project(tmp_path / "p", store, "identity = env\n")
    v1, v2 = add_versions(S)
    monkeypatch.setenv("MLOPS_NB_USER", "alice")
    root = str(S.root)
    cli("models", "promote", v1, "-m", "first", "--expect-champion", "none", "--root", root)
    cli("models", "promote", v2, "-m", "reviewed against v1", "--expect-champion", v1, "--root", root)
    assert champion(S) == v2
    cli("models", "rollback", "-m", "back", "--expect-champion", v2, "--root", root)
    for stale in (v2, "none"):  # the reviewer looked while v2 (or nothing) was champion; it is v1 now
        with pytest.raises(R.ConcurrentUpdate, match="champion changed since you looked: @champion .* is now version 1"):
            cli("models", "promote", v2, "-m", "stale view", "--expect-champion", stale, "--root", root)
    assert champion(S) == v1
    e = last_entry(S)
    assert (e["action"], e["outcome"], e["version"]) == ("promote", "refused", v2)


def test_refusals_for_versions_that_do_not_exist_are_audited(tmp_path, store, monkeypatch):
    S = project(tmp_path / "p", store, "identity = env\n", roles="users: {alice: approver, root: admin}\n")
    add_versions(S, 1)
    for user, act in (("alice", lambda: R.promote(S, "99", "no such version")),
                      ("alice", lambda: R.rollback(S, "no such version", to_version="42")),
                      ("root", lambda: R.retire(S, "77", "no such version"))):
        monkeypatch.setenv("MLOPS_NB_USER", user)
        with pytest.raises(core.LifecycleError):
            act()
    refused = [e for e in AU.read_audit(AU.audit_path(S)) if e["outcome"] == "refused"]
    assert [(e["user"], e["action"], e["version"]) for e in refused] == [
        ("alice", "promote", "99"), ("alice", "rollback", "42"), ("root", "retire", "77")]
    assert "has no version '99'" in refused[0]["reason"]


# ---------------------------------------------------------------- a new project

def test_init_names_only_its_creator_admin(tmp_path):
    from mlops_nb.scaffold import write_project_files
    df = pd.DataFrame({"x": np.arange(600) % 7, "g": ["a", "b"] * 300, "y": [0, 1, 1] * 200})
    write_project_files(tmp_path, "data/raw/d.csv", df, "y", sensitive=["g"])
    roles = access.load_roles(tmp_path / "roles.yaml")
    assert roles.users == {ME: "admin"} and roles.groups == {} and roles.default == "viewer"
    S = load_settings(tmp_path / "settings.ini", environ={})
    assert S.registry.identity == "os" and S.registry.audit_key_file == ""
    (tmp_path / "roles.yaml").write_text("users: {alice: admin}\n")  # an admin's later edit is kept by a rewrite
    write_project_files(tmp_path, "data/raw/d.csv", df, "y", sensitive=["g"])
    assert access.load_roles(tmp_path / "roles.yaml").users == {"alice": "admin"}


def test_default_role_is_set_in_roles_yaml_only(tmp_path):
    (tmp_path / "settings.ini").write_text("[registry]\ndefault_role = approver\n")
    with pytest.raises(core.ConfigError, match="unknown key 'default_role' in \\[registry\\]"):
        load_settings(tmp_path / "settings.ini", environ={})


# ---------------------------------------------------------------- a stage killed mid-run

SLOW_MODEL = '''
from pathlib import Path
import time
from sklearn.linear_model import LogisticRegression

HOLD = Path({hold!r})

class HeldLogisticRegression(LogisticRegression):
    "Waits in predict while the file HOLD exists: the train stage calls predict inside its open MLflow run."
    def predict(self, X):
        while HOLD.exists(): time.sleep(0.2)
        return super().predict(X)

def build(params):
    return HeldLogisticRegression()
'''


@pytest.mark.slow
def test_a_killed_stage_leaves_no_temp_notebook_and_no_running_run(fair_built, tmp_path):
    "Kill the train stage (its process group, the kernel included) while its run is open; the next run cleans up."
    import signal, time, yaml
    from conftest import clean_env, copy_built, run
    root = copy_built(fair_built, tmp_path)
    hold = root / "hold"; hold.touch()
    (root / "held.py").write_text(SLOW_MODEL.format(hold=str(hold)))
    p = yaml.safe_load((root / "params.yaml").read_text()); p["train"]["estimator"] = "held:build"
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    S = load_settings(root / "settings.ini")
    client, exp = mlflow.MlflowClient(S.tracking_uri), tracking.connect(S)
    running = lambda: client.search_runs([exp], "attributes.status = 'RUNNING'")
    temps = lambda: sorted((root / "reports/notebooks").glob(".train.ipynb.*"))
    env = clean_env(MLOPS_NB_KERNEL_POOL="0")  # the stage on a kernel of its own: one process group to kill
    proc = subprocess.Popen(["mlops-nb", "run-stage", "train"], cwd=root, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):
            if running() and temps(): break
            assert proc.poll() is None, "the stage ended before it could be killed"
            time.sleep(0.25)
        else: pytest.fail("the train stage never opened its MLflow run")
    finally:
        os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    killed = [r.info.run_id for r in running()]
    assert len(killed) == 1 and temps(), "the kill left nothing behind: the test would prove nothing"
    # the kernel runs in a session of its own (jupyter_client) and only notices its parent's death a moment later:
    # kill it too (the run's owner tag names it), or it could finish the run once `hold` is gone
    kernel = int(client.get_run(killed[0]).data.tags["mlops_nb.owner"].rpartition(":")[2])
    try: os.kill(kernel, signal.SIGKILL)
    except ProcessLookupError: pass
    hold.unlink()
    run(["mlops-nb", "run-stage", "train"], root, env=env)
    assert temps() == [] and running() == []
    r = client.get_run(killed[0])
    assert r.info.status == "FAILED" and "ended without closing it" in r.data.tags["mlops_nb.orphaned"]


# ---------------------------------------------------------------- model files

def test_seal_tag_rewritten_through_mlflow_is_refused(tmp_path, store, monkeypatch):
    "Swap a version's model file and rewrite its seal tags with MLflow's API: the audit log's SHA-256 still refuses it."
    S = project(tmp_path / "p", store, "identity = env\n")
    v1, v2 = add_versions(S)
    model, mv = integrity.load_version(S, v1)  # skops (all scikit-learn), checked against the seal and the audit log
    folder = S.artifact_root / "models" / mv.source.rsplit("/", 1)[-1] / "artifacts"  # mv.source: models:/<model id>
    assert type(model).__name__ == "LogisticRegression" and (folder / "model.skops").exists()
    assert mlflow.MlflowClient().get_run(mv.run_id).data.tags["mlops_nb.serialization"] == "skops"
    import skops.io as sio
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    sio.dump(LogisticRegression().fit(X, (X.a < 0).astype(int)), folder / "model.skops")  # the attacker's model
    m = integrity._manifest(folder)
    c = mlflow.MlflowClient()
    for v in (v1, v2):  # both versions share the logged model; both tags rewritten to match the swapped file
        c.set_model_version_tag(S.mlflow.model_name, v, integrity.MANIFEST_TAG, json.dumps(m, sort_keys=True))
        c.set_model_version_tag(S.mlflow.model_name, v, integrity.SEAL_TAG, integrity._digest(m))
    with pytest.raises(integrity.IntegrityError, match="rewritten outside mlops_nb"):
        integrity.load_version(S, v1)
    monkeypatch.setenv("MLOPS_NB_USER", "alice")
    with pytest.raises(integrity.IntegrityError, match="rewritten outside mlops_nb"):
        R.promote(S, v2, "looks fine")
    assert champion(S) is None and last_entry(S)["outcome"] == "refused"


def test_skops_types_come_from_mlops_nb_not_from_the_artifact(tmp_path):
    "An artifact whose MLmodel lists os.system as trusted is still refused: the list that counts is mlops_nb's."
    import skops.io as sio, yaml
    from sklearn.preprocessing import FunctionTransformer
    sio.dump(FunctionTransformer(func=os.system), tmp_path / "model.skops")
    (tmp_path / "MLmodel").write_text(yaml.safe_dump({"flavors": {"sklearn": {
        "serialization_format": "skops", "pickled_model": "model.skops", "skops_trusted_types": ["posix.system"]}}}))
    mv = type("MV", (), {"name": "m", "version": "1"})()
    with pytest.raises(integrity.IntegrityError, match=r"needs types mlops_nb does not trust \(posix.system\)"):
        integrity._load_sklearn(tmp_path, mv)


# ---------------------------------------------------------------- server-side enforcement: MLflow's own auth app

AUTH_URI = os.environ.get("MLOPS_NB_TEST_AUTH_URI")


@pytest.mark.server
@pytest.mark.skipif(not AUTH_URI, reason="MLOPS_NB_TEST_AUTH_URI is not set: run tools/team_server.sh start (.ci/run does)")
def test_mlflow_auth_refuses_an_alias_move_without_permission(tmp_path, monkeypatch):
    """`mlflow server --app-name basic-auth` (tools/team_server.sh): a team member with READ on the registered model
    cannot move @champion through MLflow's API; the approver (MANAGE) promotes through mlops_nb on the same server."""
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client
    tag = uuid.uuid4().hex[:8]
    users = {"admin": os.environ["MLOPS_NB_TEST_AUTH_ADMIN_PASSWORD"], f"approver-{tag}": secrets.token_hex(12),
             f"member-{tag}": secrets.token_hex(12)}
    approver, member = list(users)[1:]
    def as_(u):
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", u); monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", users[u])
    as_("admin")
    auth = get_app_client("basic-auth", tracking_uri=AUTH_URI)
    for u in (approver, member): auth.create_user(u, users[u])
    root = tmp_path / "p"; root.mkdir()
    (root / "settings.ini").write_text(f"[mlflow]\ntracking_uri = {AUTH_URI}\nmodel_name = m-{tag}\nexperiment = e-{tag}\n"
                                       "[registry]\nidentity = env\n")
    (root / "roles.yaml").write_text(f"users: {{{approver}: approver}}\n")
    S = load_settings(root / "settings.ini")
    v1, _ = add_versions(S)  # the admin (the service account) registers: it owns the model
    auth.grant_user_permission(approver, "registered_model", S.mlflow.model_name, "MANAGE")
    as_(member)  # default permission READ: can look, cannot move an alias, whatever mlops_nb's roles say
    c = mlflow.MlflowClient(AUTH_URI)
    assert c.get_registered_model(S.mlflow.model_name).name == S.mlflow.model_name
    with pytest.raises(MlflowException, match="PERMISSION_DENIED|403|Permission denied"):
        c.set_registered_model_alias(S.mlflow.model_name, "champion", v1)
    as_(approver); monkeypatch.setenv("MLOPS_NB_USER", approver)
    assert R.promote(S, v1, "reviewed").version == v1 and champion(S) == v1
    as_(member)
    with pytest.raises(MlflowException, match="PERMISSION_DENIED|403|Permission denied"):
        c.delete_registered_model_alias(S.mlflow.model_name, "champion")
    assert champion(S) == v1
