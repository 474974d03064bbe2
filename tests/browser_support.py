"""Real-browser helpers shared by tests/test_dashboards_browser.py and bench/dashboard_bench.py.

A finished demo project (the demo pipeline run once, in a temporary copy), a Voila server
started as a subprocess on a free 127.0.0.1 port and stopped by its PID, Debian's chromium
driven by Playwright (which never downloads a browser here), and small screenshots."""
import os, shutil, signal, socket, subprocess, sys, time, urllib.error, urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("MLOPS_NB_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1366, "height": 900}
QUIET = dict(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", DVC_NO_ANALYTICS="1", MPLBACKEND="Agg",
             MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
GIT_ID = ["-c", "user.name=mlops-nb-tests", "-c", "user.email=tests@mlops-nb.invalid"]
IDENTITY_VARS = ("JUPYTERHUB_USER", "MLOPS_NB_USER", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def env(**extra) -> dict:
    "The environment for a subprocess: quiet tools, the venv first on PATH, no inherited identity or MLflow store."
    e = {k: v for k, v in os.environ.items() if k not in IDENTITY_VARS}
    e.update(QUIET, PATH=f"{VENV_BIN}{os.pathsep}{e.get('PATH', '')}")
    return {**e, **extra}


def run(cmd, cwd, check=True, timeout=900, **extra):
    "Run a command with `env(**extra)`; on failure show its output in the assertion."
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env(**extra), timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}")
    return r


def build_demo_project(dest: Path) -> Path:
    "The repository's demo project (tracked files + roles.yaml) in `dest`, as a git repo, with `dvc repro` done."
    # tracked files and new ones not yet committed (a stage added to dvc.yaml brings its notebook and inputs)
    files = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], REPO).stdout.split()
    keep = [f for f in files if f.split("/")[0] in {"data", ".dvc"} or f.startswith(("nbs/pipeline/", "nbs/dashboards/"))
            or ("/" not in f and f.endswith((".yaml", ".ini")) or f in {".gitignore", ".dvcignore"})]
    keep = [f for f in dict.fromkeys(keep) if f != "dvc.lock"]
    for f in keep:
        if (REPO / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, dest / f)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", *GIT_ID, "commit", "-q", "-m", "demo"], dest)
    run(["dvc", "repro"], dest)
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A web server subprocess (`mlops-nb dashboards`, `voila`) on 127.0.0.1:`port`, in its own process group.

    `start()` waits until `ready_path` answers over HTTP (any status below 500); `stop()` ends the group
    of the process it started (SIGTERM, then SIGKILL), never anything else. Use as a context manager."""

    def __init__(self, cmd, cwd, port, log: Path, ready_path="/", timeout=90, **env_extra):
        self.cmd, self.cwd, self.port, self.log_path, self.ready_path = cmd, cwd, port, Path(log), ready_path
        self.timeout, self.env_extra, self.proc = timeout, env_extra, None

    @property
    def url(self) -> str: return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=env(**self.env_extra), stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.cmd} exited {self.proc.returncode} before answering:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=10) as r:
                    if r.status < 500: return self
            except urllib.error.HTTPError as e:
                if e.code < 500: return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise AssertionError(f"{self.cmd} did not answer on {self.url}{self.ready_path} within {self.timeout} s:\n"
                             f"{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self):
        p, self.proc = self.proc, None
        if p is None: return
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)  # the group we started: the server and the kernels it spawned
            try: p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL); p.wait(5)
        try: os.killpg(p.pid, 0)
        except ProcessLookupError: pass
        else:  # a kernel left behind in our group
            os.killpg(p.pid, signal.SIGKILL)
        self._log.close()

    def __enter__(self): return self.start()
    def __exit__(self, *exc): self.stop()


def voila_cmd(notebook_or_dir, port, *extra) -> list:
    "Plain `voila` (the lower bound in the benchmark; the fixture when testing these helpers)."
    return [str(VENV_BIN / "voila"), str(notebook_or_dir), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
            "--MappingKernelManager.cull_idle_timeout=60", "--MappingKernelManager.cull_interval=30", *extra]


def launch_browser(playwright):
    "Debian's chromium (or MLOPS_NB_CHROMIUM) through Playwright; Playwright gives it a fresh user-data-dir."
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} not found: apt-get install -y chromium, or set MLOPS_NB_CHROMIUM")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def save_screenshot(page, path: Path, max_bytes=300_000) -> Path:
    "Full-page PNG of `page`, re-encoded with a 256-colour palette (and, if still too big, halved) below `max_bytes`."
    from PIL import Image
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    # Voila scrolls an inner container, not the document, so `full_page` alone stops at the viewport:
    # grow the viewport to the tallest scrollable content for the shot, then restore it.
    size = page.viewport_size
    h = page.evaluate("() => Math.max(document.documentElement.scrollHeight, "
                      "...[...document.querySelectorAll('body *')].map(e => e.scrollHeight))")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(h) + 20, 12000))})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    img = Image.open(path).convert("RGB")
    for scale in (1, 0.75, 0.5, 0.35):
        im = img if scale == 1 else img.resize((int(img.width * scale), int(img.height * scale)), Image.LANCZOS)
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        if path.stat().st_size < max_bytes: break
    return path
