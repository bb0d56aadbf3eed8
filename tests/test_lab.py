"""`make lab` as a student runs it: the real target, on a copy of the repository with an
environment of its own (`make lab` creates it and installs JupyterLab from requirements-lab.lock,
as on a fresh clone; the project's own .venv is left without JupyterLab, whose packages slow every
later import of nbformat), as the user this suite runs as (root in CI and in containers, where
Jupyter needs --allow-root), serving the repository so that every link a committed notebook makes
to a file (the glossary in ../docs/) resolves inside the server, checked through the server's
contents API."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import shutil

import pytest

from trustlib import paths

COPIED = ("Makefile", "pyproject.toml", "requirements.lock", "requirements-lab.lock", "trustlib", "notebooks", "docs")

pytestmark = pytest.mark.xdist_group("lab")
STARTUP_LIMIT = 900     # seconds: a fresh environment and JupyterLab on a slow network; the wait ends at the first answer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str):
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, json.loads(r.read() or b"null")


def _file_links(nb_path) -> set[str]:
    """Relative links to files in a notebook's Markdown cells (not to web pages or anchors)."""
    nb = json.loads(nb_path.read_text())
    links = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for target in re.findall(r"\]\(([^)\s]+)\)", "".join(cell["source"])):
                if not re.match(r"[a-z]+:|#", target):
                    links.add(target.split("#")[0])
    return links


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    port, token = _free_port(), secrets.token_hex(16)
    root = tmp_path_factory.mktemp("lab-repo")
    for part in COPIED:
        src = paths.ROOT / part
        if src.is_dir():
            shutil.copytree(src, root / part, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy2(src, root / part)
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    log = (runtime / "lab.log").open("w+")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    args = f"--no-browser --ServerApp.port={port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
    proc = subprocess.Popen(["make", "lab", f"LAB_ARGS={args}"], cwd=root, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_LIMIT
    try:
        while True:       # wait for the server's first answer, or for make to give up
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"make lab exited {proc.returncode} before serving:\n{log.read()[-3000:]}")
            try:
                _get(f"{base}/api/status", token)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"make lab did not answer within {STARTUP_LIMIT} s")
                time.sleep(0.5)
        log.seek(0)
        yield base, token, log.read(), root
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_make_lab_serves_as_this_user(lab):
    base, token, output, _ = lab
    assert "installing JupyterLab (requirements-lab.lock)" in output
    if os.geteuid() == 0:
        assert "passing --allow-root" in output
    status, info = _get(f"{base}/api/contents/notebooks", token)
    names = {c["name"] for c in info["content"]}
    assert {p.name for p in paths.NOTEBOOKS.glob("*.ipynb")} <= names


def test_every_file_a_notebook_links_resolves_inside_the_server(lab):
    base, token, _, _ = lab
    links = {}
    for nb in sorted(paths.NOTEBOOKS.glob("*.ipynb")):
        for target in _file_links(nb):
            links[os.path.normpath(f"notebooks/{target}")] = nb.name
    assert "docs/glossary.md" in links
    for path, nb in sorted(links.items()):
        status, info = _get(f"{base}/api/contents/{path}?content=0", token)
        assert status == 200 and info["path"] == path, f"{nb} links {path}, which the server does not serve"
