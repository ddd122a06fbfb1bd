"""One vocabulary for compare, switch and carry (issue 16, finding 6): what
overlay mode brings from the server is "from_server" in compare and in the
switch answer, never missing, lost or breaking the notebook."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from support.jupyter import RunningServer

from ._client import Notebook, rest

pytestmark = pytest.mark.server


def test_overlay_packages_are_from_server(server: RunningServer, envs: dict[str, Path],
                                          tmp_path: Path) -> None:
    nb_path = tmp_path / "uses-server.ipynb"
    nb_path.write_text(json.dumps({"cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "import kernelswitch\nimport numpy\nimport nosuchmodule_xyz"},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        try:
            q = urlencode({"target": str(envs["overlay"]), "notebook": str(nb_path)})
            code, comp = await rest(server.url, server.token, "GET",
                                    f"kernelswitch/api/kernels/{nb.kernel_id}/compare?{q}")
            assert code == 200, comp
            assert comp["unsatisfied_imports"] == ["nosuchmodule_xyz"], comp
            assert {"kernelswitch", "numpy"} <= set(comp["imports_from_server"])
            assert "numpy" in comp["from_server"] and "ipykernel" in comp["from_server"]
            assert not set(comp["from_server"]) & set(comp["missing_packages"])
            code, ans = await nb.switch(str(envs["overlay"]))
            assert code == 200, ans
            ch = ans["changes"]
            assert set(comp["from_server"]) <= set(ch["from_server"]), ch
            assert not set(ch["from_server"]) & set(ch["lost"]), ch
            assert await nb.value("__import__('kernelswitch').__name__") == "kernelswitch"
            # the kernel indicator's text and the new kernel's own language_info
            assert ans["language_info"]["name"] == "python"
            assert ans["language_info"]["version"] == ans["env"]["version"]
            assert ans["display"].startswith("Python 3.") and "overlay-env" in ans["display"]
            code, got = await rest(server.url, server.token, "GET",
                                   f"kernelswitch/api/kernels/{nb.kernel_id}/env")
            assert got["display"] == ans["display"] and got["restore_error"] is None
        finally:
            await nb.close()

    asyncio.run(scenario())
