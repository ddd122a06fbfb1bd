"""A notebook-like client for tests: one kernel websocket, REST calls, execute."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect


async def rest(url: str, token: str, method: str, path: str, body: Any = None,
               timeout: float = 120) -> tuple[int, Any]:
    """``(status, json)`` of a call to ``{url}{path}``; errors are answers too."""
    req = HTTPRequest(
        f"{url}{path}", method=method, headers={"Authorization": f"token {token}"},
        body=json.dumps(body) if body is not None else
        ("{}" if method in ("POST", "PATCH") else None),
        request_timeout=timeout,
    )  # fmt: skip
    try:
        resp = await AsyncHTTPClient().fetch(req)
    except HTTPClientError as e:
        assert e.response is not None, e
        return e.code, json.loads(e.response.body or b"null")
    return resp.code, json.loads(resp.body) if resp.body else None


@dataclass
class Notebook:
    """One kernel and one websocket to it, as a notebook tab holds them."""

    url: str
    token: str
    kernel_id: str
    ws: WebSocketClientConnection
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    statuses: list[str] = field(default_factory=list)
    stderr: str = ""

    @classmethod
    async def open(cls, url: str, token: str, kernel_name: str = "python3") -> Notebook:
        code, kernel = await rest(url, token, "POST", "api/kernels", {"name": kernel_name})
        assert code == 201, kernel
        return await cls.attach(url, token, kernel["id"])

    @classmethod
    async def attach(cls, url: str, token: str, kernel_id: str) -> Notebook:
        session = uuid.uuid4().hex
        ws_url = url.replace("http", "ws", 1)
        ws = await websocket_connect(HTTPRequest(
            f"{ws_url}api/kernels/{kernel_id}/channels?session_id={session}",
            headers={"Authorization": f"token {token}"},
        ))  # fmt: skip
        return cls(url, token, kernel_id, ws, session)

    def _msg(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> dict:
        msg_id = uuid.uuid4().hex
        return {
            "header": {"msg_id": msg_id, "msg_type": msg_type, "session": self.session,
                       "username": "test", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "content": content, "channel": channel,
            "buffers": [],
        }  # fmt: skip

    async def request(self, msg_type: str, content: dict[str, Any],
                      timeout: float = 60) -> tuple[dict, list[dict]]:
        """Send on shell; the reply and the iopub messages until idle."""
        msg = self._msg(msg_type, content)
        msg_id = msg["header"]["msg_id"]
        assert self.ws.protocol is not None, "the websocket closed"
        await self.ws.write_message(json.dumps(msg))
        reply: dict | None = None
        iopub: list[dict] = []
        idle = False
        async with asyncio.timeout(timeout):
            while reply is None or not idle:
                raw = await self.ws.read_message()
                assert raw is not None, "the websocket closed"
                m = json.loads(raw)
                if m.get("msg_type") == "status" or m["header"]["msg_type"] == "status":
                    self.statuses.append(m["content"]["execution_state"])
                if m.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if m["channel"] == "shell":
                    reply = m
                elif m["channel"] == "iopub":
                    iopub.append(m)
                    if (m["header"]["msg_type"] == "status"
                            and m["content"]["execution_state"] == "idle"):
                        idle = True
        return reply, iopub

    async def run(self, code: str, timeout: float = 60) -> str:
        """Execute ``code``; its stdout (raises on an error reply)."""
        reply, iopub = await self.request(
            "execute_request",
            {"code": code, "silent": False, "store_history": True, "user_expressions": {},
             "allow_stdin": False, "stop_on_error": True},
            timeout,
        )  # fmt: skip
        if reply["content"]["status"] != "ok":
            raise AssertionError(f"{reply['content'].get('ename')}: "
                                 f"{reply['content'].get('evalue')}")
        self.stderr = "".join(m["content"]["text"] for m in iopub
                              if m["header"]["msg_type"] == "stream"
                              and m["content"]["name"] == "stderr")
        return "".join(m["content"]["text"] for m in iopub
                       if m["header"]["msg_type"] == "stream" and m["content"]["name"] == "stdout")

    async def value(self, expr: str) -> Any:
        """``expr`` evaluated in the kernel, through JSON."""
        out = await self.run(f"import json as _j; print(_j.dumps({expr}))")
        return json.loads(out)

    async def switch(self, target: str, **kw: Any) -> tuple[int, dict]:
        path = f"kernelswitch/api/kernels/{self.kernel_id}/env"
        return await rest(self.url, self.token, "POST", path, {"target": target, **kw})

    async def env(self) -> dict:
        code, body = await rest(self.url, self.token, "GET",
                                f"kernelswitch/api/kernels/{self.kernel_id}/env")
        assert code == 200, body
        return body

    async def close(self) -> None:
        self.ws.close()
        await rest(self.url, self.token, "DELETE", f"api/kernels/{self.kernel_id}")
