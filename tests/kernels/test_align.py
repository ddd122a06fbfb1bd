"""Align (issue 16): a real venv lacking a package the notebook imports gets it
from the package index at the current env's version; then compare finds
nothing missing and the cell runs after the switch. Also a saved env that no
longer exists: 404 env_not_found naming it, and a visible restore_error."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from support.jupyter import RunningServer
from support.venvs import make_venv
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from ._client import Notebook, rest

pytestmark = pytest.mark.server

#: tiny, pure Python, and its import name differs from its distribution's
DIST, VERSION, MODULE = "text-unidecode", "1.3", "text_unidecode"


def _notebook(path: Path, metadata: dict | None = None) -> Path:
    path.write_text(json.dumps({"cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": f"import {MODULE}\nprint({MODULE}.unidecode('h\\u00e9llo'))"},
    ], "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


async def _ndjson(url: str, token: str, body: dict) -> list[dict]:
    req = HTTPRequest(f"{url}kernelswitch/api/envs/align", method="POST",
                      body=json.dumps(body), request_timeout=600,
                      headers={"Authorization": f"token {token}",
                               "Accept": "application/x-ndjson"})
    resp = await AsyncHTTPClient().fetch(req)
    assert resp.headers["Content-Type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in resp.body.decode().splitlines() if line.strip()]


def test_align_installs_what_the_notebook_needs(server: RunningServer, tmp_path: Path) -> None:
    current = make_venv(tmp_path / "align-current")
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(current / "bin/python"),
                          "install", "--quiet", f"{DIST}=={VERSION}"],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    target = make_venv(tmp_path / "align-target")  # no pip, no text-unidecode
    nb_path = _notebook(tmp_path / "uses-unidecode.ipynb")

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        try:
            code, ans = await nb.switch(str(current))
            assert code == 200, ans
            q = urlencode({"target": str(target), "notebook": str(nb_path)})
            code, comp = await rest(server.url, server.token, "GET",
                                    f"kernelswitch/api/kernels/{nb.kernel_id}/compare?{q}")
            assert code == 200 and comp["unsatisfied_imports"] == [MODULE], comp
            # the plan: the distribution of the kernel's env at its version; nothing runs
            body = {"target": str(target), "notebook": str(nb_path), "kernel": nb.kernel_id}
            code, plan = await rest(server.url, server.token, "POST",
                                    "kernelswitch/api/envs/align", body)
            assert code == 200, plan
            assert plan["installs"] == [{"import": MODULE, "distribution": DIST,
                                         "version": VERSION}], plan
            assert plan["unmapped"] == [] and plan["pip_missing"] is True
            assert f"{DIST}=={VERSION}" in plan["command"]
            if plan["tool"] == "pip":  # the target's own pip, after ensurepip
                assert plan["command"][:3] == [str(target / "bin/python"), "-m", "pip"]
                assert plan["steps"][0][1:] == ["-m", "ensurepip", "--default-pip"]
            # the magic shows the same command and runs nothing without --yes
            await nb.run("%load_ext kernelswitch")
            out = await nb.run(f"%pyenv align {target} --notebook {nb_path}")
            assert plan["command_text"] in out and "--yes" in out, out
            assert not list(target.glob(f"lib/python*/site-packages/{MODULE}"))
            # confirmed: pip's output streams, then the result
            lines = await _ndjson(server.url, server.token, {**body, "confirm": True})
            assert lines[-1]["type"] == "result", lines[-3:]
            result = lines[-1]
            assert result["returncode"] == 0, "".join(x.get("text", "") for x in lines)
            assert [i["distribution"] for i in result["installed"]] == [DIST]
            assert any(x["type"] == "output" for x in lines[:-1])
            code, comp = await rest(server.url, server.token, "GET",
                                    f"kernelswitch/api/kernels/{nb.kernel_id}/compare?{q}")
            assert comp["unsatisfied_imports"] == [], comp
            code, ans = await nb.switch(str(target), carry=True)
            assert code == 200, ans
            out = await nb.run(f"import {MODULE}; print({MODULE}.unidecode('h\\u00e9llo'), "
                               f"__import__('importlib.metadata').metadata.version('{DIST}'))")
            assert out.split() == ["hello", VERSION], out
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_missing_saved_env_is_named(server: RunningServer, tmp_path: Path) -> None:
    gone = make_venv(tmp_path / "saved-env")
    name = f"saved-{tmp_path.name}.ipynb"
    _notebook(server.log.parent / name, {"kernelswitch": {"env": {
        "prefix": str(gone), "executable": str(gone / "bin" / "python")}}})
    shutil.rmtree(gone)

    async def scenario() -> None:
        code, sess = await rest(server.url, server.token, "POST", "api/sessions", {
            "path": name, "type": "notebook", "name": name,
            "kernel": {"name": "python3"}})
        assert code == 201, sess
        kid = sess["kernel"]["id"]
        try:
            code, env = await rest(server.url, server.token, "GET",
                                   f"kernelswitch/api/kernels/{kid}/env")
            assert code == 200, env
            err = env["restore_error"]
            assert err["code"] == "env_not_found" and err["path"] == str(gone / "bin/python")
            assert str(gone) in err["message"]
            # the notebook says it with its first cell
            nb = await Notebook.attach(server.url, server.token, kid)
            try:
                await nb.run("1 + 1")
                assert "could not be restored" in nb.stderr and str(gone) in nb.stderr, \
                    nb.stderr
                nb.stderr = ""
                await nb.run("2 + 2")
                assert nb.stderr == ""  # once
            finally:
                nb.ws.close()
            # restoring it by hand: 404 env_not_found naming the path
            code, ans = await rest(server.url, server.token, "POST",
                                   f"kernelswitch/api/kernels/{kid}/env",
                                   {"target": str(gone / "bin/python")})
            assert code == 404 and ans["error"]["code"] == "env_not_found", ans
            assert ans["error"]["path"] == str(gone / "bin/python")
            assert str(gone) in ans["error"]["message"]
        finally:
            await rest(server.url, server.token, "DELETE", f"api/sessions/{sess['id']}")

    asyncio.run(scenario())
