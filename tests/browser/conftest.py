"""Browser layer: real headless Chromium (Debian's) against a real JupyterLab.

Chromium is driven through the Python ``playwright`` package with
``executable_path``; playwright's own browser download does not work on our
machines. A missing Chromium or front-end build fails the tests: no skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.jupyter import RunningServer, jupyter_server

REPO = Path(__file__).resolve().parents[2]
LABEXTENSION = REPO / "kernelswitch" / "labextension"
WIDGETS_BUNDLE = REPO / "kernelswitch" / "static" / "widgets.js"
CHROMIUM = os.environ.get("KERNELSWITCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
#: Name of the venv made in the env root; the sidebar and the picker must list it.
DEMO_ENV = "demo-env"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="session")
def shots_dir() -> Path:
    """Where the browser tests leave their screenshots: a cache, not the repo."""
    from kernelswitch._paths import cache_dir

    env = os.environ.get("KERNELSWITCH_SCREENSHOTS_DIR")
    out = Path(env) if env else cache_dir() / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which(CHROMIUM) or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if path is None:
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package "
            "(scripts/setup.sh --test does) or set KERNELSWITCH_CHROMIUM",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def frontends_built() -> None:
    missing = [
        p
        for p in (
            LABEXTENSION / "package.json",
            LABEXTENSION / "static" / "style.js",
            WIDGETS_BUNDLE,
        )
        if not p.is_file()
    ]
    if missing:
        pytest.fail(
            f"front end not built ({', '.join(map(str, missing))} missing): "
            "run `npm ci && npm run build` at the repository root",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `lab` server's root directory (notebooks written here open in it)."""
    root = tmp_path_factory.mktemp("lab") / "root"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def lab(lab_root: Path, frontends_built: None) -> Iterator[RunningServer]:
    """JupyterLab with kernelswitch, its env root holding one fresh venv."""
    root = lab_root
    base = root.parent
    envs = base / "envs"
    envs.mkdir()
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(envs / DEMO_ENV)], check=True
    )
    # The test serves the labextension of this checkout, whatever copy an
    # earlier `pip install` left in the venv: an extra labextensions path is
    # searched before the venv's share/jupyter/labextensions.
    labext = base / "labextensions"
    labext.mkdir()
    (labext / "kernelswitch").symlink_to(LABEXTENSION, target_is_directory=True)
    config = base / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {"jpserver_extensions": {"kernelswitch": True}},
                "LabApp": {"extra_labextensions_path": [str(labext)], "news_url": None},
                # the notebooks' folder too: envs next to a notebook are "Recommended"
                "KernelSwitchApp": {"env_roots": [str(envs), str(root)], "env_depth": 3},
            }
        )
    )
    # No "Jupyter news?" toast over the screenshots (the news feed is offline anyway).
    settings = base / "settings"
    notification = (
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
    }
    with jupyter_server(root, app="lab", env=env, timeout=120) as server:
        yield server


# pytest_jupyter's autouse fixtures, overridden for these sync tests: between
# calls, playwright's sync API leaves its own event loop marked as running in
# this thread, and pytest_jupyter would pick that loop up and close it (or run
# an in-process server's cleanup on it). The server here is a subprocess.
@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> None:
    return None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    return None


# Per module, not per session: a live playwright keeps its loop marked as
# running, which would break asyncio tests collected after this folder.
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: object, lab: RunningServer) -> Iterator[object]:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        context.close()
