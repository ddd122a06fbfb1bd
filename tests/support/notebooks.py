"""Notebooks for the browser tests, and a watch on what the page shows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat


def write_notebook(path: Path, *cells: str) -> Path:
    """A notebook of code ``cells`` for the python3 kernel, written to ``path``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nbformat.write(nb, path)
    return path


#: ``page.evaluate`` it: records every "disconnected" the page ever shows
#: (status bar, toolbar, titles) in ``window.__ksDisconnected``.
WATCH_DISCONNECTED = """
window.__ksDisconnected = [];
new MutationObserver(muts => {
  for (const m of muts) {
    const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
    const text = `${el?.textContent ?? ''} ${el?.getAttribute?.('title') ?? ''}`;
    if (/disconnected/i.test(text) && text.length < 400) {
      window.__ksDisconnected.push(text.trim().slice(0, 120));
    }
  }
}).observe(document.body, {subtree: true, childList: true, characterData: true,
                           attributes: true, attributeFilter: ['title']});
"""


def open_notebook(page: Any, lab: Any, workspace: str, name: str) -> Any:
    """Open ``name`` in a JupyterLab workspace of its own (no layout another
    test left is restored over it) and wait for its kernel to be idle (a cell
    run before that is skipped); the notebook's locator."""
    from playwright.sync_api import expect

    page.goto(f"{lab.url}lab/workspaces/{workspace}/tree/{name}?token={lab.token}")
    notebook = page.locator(".jp-NotebookPanel .jp-Notebook")
    expect(notebook).to_be_visible(timeout=90_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text(
        re.compile(r"\| Idle"), timeout=90_000
    )
    return notebook
