"""Issue 15: the console websocket takes the page's origin as scheme + host + port.

``https://host:port`` was accepted on an ``http`` server (only host and port
were compared). The checks run before any console exists, so libvirt's test
driver (its VM ``test``) is enough; a real jupyter_server answers.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.jp import ks_server_config
from tornado.httpclient import HTTPClientError

pytestmark = pytest.mark.server


@pytest.fixture
def jp_server_config() -> dict:
    return ks_server_config(libvirt_uris=["test:///default"])


@pytest.mark.parametrize(
    "origin",
    [
        "https://localhost:{port}",  # another scheme: another origin
        "http://localhost:{other}",  # another port
        "http://localhost",  # the default port (80) is another port here
        "http://evil.example:{port}",
        "null",  # sandboxed frames and file:// pages
        "http://localhost:notaport",
    ],
)
async def test_other_origins_are_refused(
    jp_ws_fetch: Any, jp_http_port: int, origin: str
) -> None:
    header = origin.format(port=jp_http_port, other=jp_http_port + 1)
    with pytest.raises(HTTPClientError) as e:
        await jp_ws_fetch("kernelswitch", "api", "vms", "test", "console",
                          headers={"Origin": header})  # fmt: skip
    assert e.value.code == 403


async def test_the_servers_own_origin_is_let_in(jp_ws_fetch: Any, jp_http_port: int) -> None:
    for origin in (f"http://localhost:{jp_http_port}", f"HTTP://LOCALHOST:{jp_http_port}"):
        ws = await jp_ws_fetch("kernelswitch", "api", "vms", "test", "console",
                               headers={"Origin": origin})  # fmt: skip
        ws.close()


def test_same_origin_rules() -> None:
    from kernelswitch.server.console_handlers import same_origin

    assert same_origin("http://h", "http", "h:80")
    assert same_origin("https://h:443", "https", "h")
    assert same_origin("http://[::1]:8888", "http", "[::1]:8888")
    assert not same_origin("https://h:8888", "http", "h:8888")
    assert not same_origin("http://h:8888", "https", "h:8888")
    assert not same_origin("http://h.evil:8888", "http", "h:8888")
