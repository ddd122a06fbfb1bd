"""JupyterLab's own shell in the browser tests: the VM sidebar open in a fresh
workspace, and waiting for the layout restorer to save a tab."""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import expect

from .jupyter import RunningServer


def open_vm_sidebar(page: Any, lab: RunningServer, workspace: str) -> Any:
    """Go to JupyterLab in a workspace of its own (new each run: a "reset" in the URL
    would also undo a reload) and open the VM sidebar, live. Returns the sidebar."""
    page.goto(f"{lab.url}lab/workspaces/{workspace}-{secrets.token_hex(4)}?token={lab.token}")
    tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="kernelswitch-vms"]')
    expect(tab).to_be_visible(timeout=90_000)
    tab.click()
    sidebar = page.locator(".ks-VMSidebar")
    expect(sidebar).to_be_visible()
    expect(sidebar).to_have_attribute("data-status", "live", timeout=30_000)
    return sidebar


def wait_saved(lab: RunningServer, page: Any, prefix: str) -> None:
    """Until the page's workspace, as the server keeps it, holds a key starting
    with *prefix* (the layout restorer saves a moment after a change; a reload
    before that would restore the older layout)."""
    workspace = page.url.split("/lab/workspaces/")[1].split("?")[0].split("/")[0]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        req = urllib.request.Request(f"{lab.url}lab/api/workspaces/{workspace}")
        req.add_header("Authorization", f"token {lab.token}")
        with urllib.request.urlopen(req, timeout=30) as r:
            if any(k.startswith(prefix) for k in json.loads(r.read()).get("data", {})):
                return
        time.sleep(0.2)
    pytest.fail(f"the workspace {workspace} never saved {prefix}")
