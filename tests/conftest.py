"""Shared fixtures. Every layer is real; a missing component fails, never skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep the env-probe cache out of the user's cache dir (the test OS cache stays)."""
    if "KERNELSWITCH_TESTOS_DIR" not in os.environ:
        from kernelswitch._paths import testos_dir

        monkeypatch.setenv("KERNELSWITCH_TESTOS_DIR", str(testos_dir()))
    monkeypatch.setenv("KERNELSWITCH_CACHE", str(tmp_path_factory.mktemp("ks-cache")))


@pytest.fixture(scope="session")
def ipykernel_venv() -> Path:
    """A real venv with only ipykernel, kept in the user cache across runs."""
    from support.venvs import ipykernel_venv as build

    from kernelswitch._paths import cache_dir

    return build(cache_dir())
