#!/usr/bin/env bash
# Lint, types, then the whole pytest suite. Every layer is real: a missing
# libvirt, QEMU, Chromium or test OS image fails the run, it never skips.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. .venv/bin/activate
echo "== ruff"
ruff check kernelswitch tests benchmarks notebooks conftest.py
echo "== mypy"
mypy
echo "== pytest"
exec python -m pytest "$@"
