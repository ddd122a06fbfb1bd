"""The credential kernels use to call kernelswitch's API.

Public API: :class:`KernelCredential` (``secret``, ``authenticate(handler)``).

Why not hand kernels the server's own token: a server protected by a
password alone has an empty token, so ``%vm`` and ``%pyenv`` were refused
there; and the server token opens the whole Jupyter API (files, terminals,
other kernels) to any code a kernel runs. Instead the server makes one random
secret per run, puts it in the environment of the kernels it launches
(``KERNELSWITCH_TOKEN``), and only kernelswitch's own handlers accept it.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from jupyter_server.auth import User

#: Who a request carrying the kernel secret acts as (what logs and authorizers see).
KERNEL_USER = User(username="kernelswitch-kernel", name="kernelswitch kernel",
                   display_name="kernelswitch kernel")


class KernelCredential:
    """One random secret per server run."""

    def __init__(self) -> None:
        self.secret = secrets.token_urlsafe(32)

    def matches(self, authorization: str) -> bool:
        """Is ``authorization`` (an ``Authorization`` header) ``token <secret>``?"""
        scheme, _, value = authorization.strip().partition(" ")
        return scheme.lower() == "token" and hmac.compare_digest(
            value.strip().encode(), self.secret.encode()
        )

    def authenticate(self, handler: Any) -> bool:
        """Mark ``handler`` as authenticated when its request carries the secret.

        Runs before jupyter_server's ``prepare``, whose identity provider
        accepts a user already set on the handler; token-authenticated
        requests need no XSRF cookie, as with Jupyter's own token.
        """
        if not self.matches(handler.request.headers.get("Authorization", "")):
            return False
        handler.current_user = handler._jupyter_current_user = KERNEL_USER
        handler._token_authenticated = True
        return True
