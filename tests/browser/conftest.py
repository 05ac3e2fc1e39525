"""Fixtures for the browser smoke test: a JupyterLab server on a copy of notebooks/, and
headless Debian Chromium driven by Playwright.

The test is skipped, with the reason shown by ``pytest -rs`` (``make browser``), when the
``playwright`` package or Chromium is missing. Chromium is Debian's (``/usr/bin/chromium``,
or ``$LABKIT_CHROMIUM``): Playwright's own browser download is never used.

Environment variables:

* ``LABKIT_SCREENSHOTS``: where the screenshots go (default ``tests/browser/screenshots/``).
* ``LABKIT_CHROMIUM``: another Chromium binary.
* ``LABKIT_BROWSER_TIMEOUT``: seconds allowed for one notebook's run-all (default 300).
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = ROOT / "notebooks"
CHROMIUM = os.environ.get("LABKIT_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying Google's hosts and can hang
# on a closed network. Playwright adds its own fresh --user-data-dir for every launch.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 900}   # a common laptop screen

# JupyterLab user settings for the test server: no news feed, no update check (both would
# ask the network and show a toast over the notebook).
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
}

SUMMARY: list[str] = []   # one line per notebook, printed at the end of the run
SITE_SUMMARY: list[str] = []   # one line per page of the course site (test_site.py)


def _skip_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return (f"browser test skipped: {CHROMIUM} not found (CI installs Debian's chromium; "
                "on your machine: sudo apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ("browser test skipped: the playwright Python package is not installed "
                "(it is in the test extras: pip install -e '.[test]', or make setup)")
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jupyter_command() -> list[str]:
    jupyter = pathlib.Path(sys.executable).with_name("jupyter")
    return [str(jupyter)] if jupyter.exists() else [sys.executable, "-m", "jupyter"]


class LabServer:
    """A running ``jupyter lab`` subprocess serving ``root``."""

    def __init__(self, root: pathlib.Path, base: pathlib.Path):
        self.root = root
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "jupyter-lab.log"
        settings = base / "lab-user-settings"
        for rel, values in USER_SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(values))
        env = dict(os.environ)
        # The learner's experience: ipykernel's inline backend (needs MPLBACKEND unset) and
        # labkit's progress bars on (LABKIT_NO_PROGRESS and CI would turn them off).
        for var in ("MPLBACKEND", "LABKIT_NO_PROGRESS", "LABKIT_PROGRESS", "CI"):
            env.pop(var, None)
        env["PYTHONHASHSEED"] = "0"
        env["PATH"] = os.pathsep.join([str(pathlib.Path(sys.executable).parent), env.get("PATH", "")])
        # Keep the developer's own Jupyter/IPython configuration and state out of it.
        for var, sub in (("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
                         ("IPYTHONDIR", "ipython")):
            (base / sub).mkdir(exist_ok=True)
            env[var] = str(base / sub)
        cmd = [
            *_jupyter_command(), "lab", "--no-browser",
            f"--port={self.port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
            # ServerApp.token's non-deprecated spelling in jupyter_server 2:
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
            "--LabApp.expose_app_in_browser=True",
            # Nothing that reaches for the network: no news feed, no update check, and an
            # extension manager that only lists what is installed (the default asks PyPI).
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={base / 'lab-workspaces'}",
        ]
        if hasattr(os, "getuid") and os.getuid() == 0:
            cmd.append("--allow-root")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def api(self, path: str, method: str = "GET", timeout: float = 10):
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("/api/status", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer /api/status in {timeout:.0f} s:\n{self.log_tail()}")

    def shutdown_sessions(self) -> None:
        """Shut every kernel down, so each notebook starts on a fresh one and the last one's
        kernel does not keep using memory."""
        for s in self.api("/api/sessions"):
            try:
                self.api(f"/api/sessions/{s['id']}", method="DELETE", timeout=30)
            except urllib.error.HTTPError:
                pass

    def log_tail(self, n: int = 40) -> str:
        self._log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()   # SIGTERM: jupyter_server shuts its kernels down and exits
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    # A copy: running the lessons (and JupyterLab's autosave) never touches the committed files.
    shutil.copytree(NOTEBOOKS_DIR, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    server = LabServer(root, base)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def playwright_session():
    """One Playwright for the whole session: its sync API cannot run twice at once in one
    process, and both the JupyterLab test and the course-site test (test_site.py) use it."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(lab_server, playwright_session):
    b = playwright_session.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="session")
def screenshot_dir():
    d = pathlib.Path(os.environ.get("LABKIT_SCREENSHOTS") or ROOT / "tests" / "browser" / "screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def run_timeout():
    return float(os.environ.get("LABKIT_BROWSER_TIMEOUT", "300"))


def pytest_terminal_summary(terminalreporter):
    if SUMMARY:
        terminalreporter.write_sep("-", "lessons in JupyterLab (headless Chromium)")
        for line in SUMMARY:
            terminalreporter.write_line(line)
    if SITE_SUMMARY:
        terminalreporter.write_sep("-", "course site (make site) in headless Chromium")
        for line in SITE_SUMMARY:
            terminalreporter.write_line(line)
