"""The VM manager's storage foot with two hosts, in real Chromium against a real
JupyterLab (and a real sshd + the remote user's daemon): each host's pool on a
line of its own, named by host (``GET storage?uri=HOST`` for the second), and
every line still whole when the manager is 250 px wide (a narrow panel).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import quote

import pytest
from support.jupyter import RunningServer
from support.notebooks import write_notebook

from .conftest import LOCAL, chromium_page, host_alias, open_manager
from .sshhost import SSHHost

#: ``evaluate`` on the manager: 250 px wide all told, as in a narrow panel
NARROW = "el => { el.style.boxSizing = 'border-box'; el.style.width = '250px'; }"
#: ``evaluate`` on a pool line: true when its text is all in sight (wrapped, not cut)
FITS = """el => {
  const box = el.getBoundingClientRect();
  const foot = el.closest('.ks-vmm').getBoundingClientRect();
  return el.scrollWidth <= el.clientWidth + 1
    && box.left >= foot.left - 1 && box.right <= foot.right + 1;
}"""


def test_storage_api_answers_for_each_host(
    two_host_lab: tuple[RunningServer, Path], ssh_host: SSHHost
) -> None:
    lab, _root = two_host_lab
    alias = host_alias(ssh_host)
    first: Any = lab.api("storage")
    here: Any = lab.api(f"storage?uri={quote(LOCAL, safe='')}")
    there: Any = lab.api(f"storage?uri={quote(ssh_host.uri(), safe='')}")
    by_alias: Any = lab.api(f"storage?uri={quote(alias, safe='')}")
    assert here["path"] == first["path"]  # no uri: the first host's, as before
    assert there["path"] == by_alias["path"] != here["path"]
    assert there["path"].startswith("/home/ksremote/"), there
    with pytest.raises(HTTPError) as bad:
        lab.api("storage?uri=qemu%2Bssh%3A%2F%2Fnobody%40nowhere%2Fsession")
    assert bad.value.code == 400
    assert "unknown_host" in bad.value.read().decode()


def test_manager_shows_each_hosts_pool_at_250px(
    two_host_lab: tuple[RunningServer, Path], ssh_host: SSHHost, shots: Path
) -> None:
    from playwright.sync_api import expect

    lab, root = two_host_lab
    alias = host_alias(ssh_host)
    pools = {uri: lab.api(f"storage?uri={quote(uri, safe='')}") for uri in (LOCAL, ssh_host.uri())}
    write_notebook(root / "pools.ipynb", "%load_ext kernelswitch\nm = %vm manager\nm")
    with chromium_page(900) as page:
        manager = open_manager(page, lab, f"ks-pools-{secrets.token_hex(4)}", "pools.ipynb")

        # one line a host, in the configured order, each named by its host
        lines = manager.locator(".ks-vmm-storage .ks-vmm-hostPool")
        expect(lines).to_have_count(2, timeout=30_000)
        for i, (uri, name) in enumerate(((LOCAL, "local"), (ssh_host.uri(), alias))):
            line = lines.nth(i)
            pool: Any = pools[uri]
            expect(line).to_have_attribute("data-uri", uri)
            expect(line.locator(".ks-vmm-poolHost")).to_have_text(name)
            expect(line.locator(".ks-vmm-poolHost")).to_have_attribute("title", uri)
            # (a pool not read yet, the remote daemon still starting, is asked again)
            expect(line).to_contain_text(f"pool “{pool['pool']}”", timeout=30_000)
            expect(line).to_contain_text(" free of ")
            # the pool's folder is in its tooltip: the second line is the remote pool
            assert (line.get_attribute("title") or "").startswith(f"{pool['path']}: ")

        # a narrow panel: every line wraps inside the manager, none is cut
        manager.evaluate(NARROW)
        manager.locator(".ks-vmm-storage").scroll_into_view_if_needed()
        for i in range(2):
            expect(lines.nth(i)).to_be_visible()
            assert lines.nth(i).evaluate(FITS), lines.nth(i).inner_text()
        box = manager.bounding_box()
        assert box and box["width"] <= 252
        manager.locator(".ks-vmm-storage").screenshot(path=str(shots / "manager-pools-250.png"))
