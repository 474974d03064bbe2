"""A real JupyterHub on 127.0.0.1 for the identity tests, without its HTTP proxy.

The tests need the Hub's REST API (`GET /hub/api/user` with a token), which the Hub process serves itself.
configurable-http-proxy (an npm package) only routes browser traffic to single-user servers, so the Hub runs
with `NoProxy` below, a `jupyterhub.proxy.Proxy` that keeps its routes in memory."""
import os, socket, subprocess, sys, time, urllib.request
from contextlib import contextmanager
from pathlib import Path

from jupyterhub.proxy import Proxy


class NoProxy(Proxy):
    "Routes kept in memory: nothing is proxied (the tests talk to the Hub API directly)."
    should_start = False

    def __init__(self, **kw):
        super().__init__(**kw)
        self._routes = {}

    async def add_route(self, routespec, target, data):
        self._routes[routespec] = {"routespec": routespec, "target": target, "data": data}

    async def delete_route(self, routespec): self._routes.pop(routespec, None)

    async def get_all_routes(self): return dict(self._routes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@contextmanager
def running_hub(folder: Path, tokens: dict):
    "A JupyterHub whose users own `tokens` ({token: user}); yields its API URL; stopped (by pid) on exit."
    folder.mkdir(parents=True, exist_ok=True)
    hub_port = free_port()
    (folder / "jupyterhub_config.py").write_text(f"""
c.JupyterHub.ip = "127.0.0.1"; c.JupyterHub.port = {free_port()}
c.JupyterHub.hub_ip = "127.0.0.1"; c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.proxy_class = "hub_support.NoProxy"
c.JupyterHub.db_url = "sqlite:///{folder}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{folder}/cookie_secret"
c.JupyterHub.pid_file = "{folder}/hub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {set(tokens.values())!r}
c.JupyterHub.api_tokens = {tokens!r}
""")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    for v in ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_API_URL", "JUPYTERHUB_USER"): env.pop(v, None)
    log = open(folder / "hub.log", "w")
    p = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f", str(folder / "jupyterhub_config.py")],
                         cwd=folder, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{hub_port}/hub/api"
    try:
        for _ in range(240):
            if p.poll() is not None: raise RuntimeError(f"JupyterHub exited: {(folder / 'hub.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url, timeout=1); break
            except OSError: time.sleep(0.25)
        else: raise RuntimeError(f"JupyterHub did not answer {url} in 60 s: {(folder / 'hub.log').read_text()[-2000:]}")
        yield url
    finally:
        p.terminate()
        try: p.wait(timeout=20)
        except subprocess.TimeoutExpired: p.kill(); p.wait()
        log.close()
