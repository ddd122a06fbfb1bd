"""Repository-wide pytest plugins (kept at the root so every test folder sees them)."""

from __future__ import annotations

import os
import tempfile

import pytest

# hypothesis (under schemathesis) writes a cache even with database=None: keep
# it out of the checkout.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "kernelswitch-hypothesis")
)

pytest_plugins = ["pytest_jupyter.jupyter_server", "support.console_vm"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Every layer is real here: a skipped test is a failed test (no silent gaps)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped, which this suite does not allow: {reason}"
