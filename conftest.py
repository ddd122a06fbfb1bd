"""Repository-wide pytest plugins (kept at the root so every test folder sees them)."""

pytest_plugins = ["pytest_jupyter.jupyter_server"]
