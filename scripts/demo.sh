#!/usr/bin/env bash
# Start JupyterLab with kernelswitch enabled and the demo notebook open.
# Port: $KERNELSWITCH_PORT (default 8888). Token: $KERNELSWITCH_TOKEN or a fresh one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. .venv/bin/activate
port="${KERNELSWITCH_PORT:-8888}"
token="${KERNELSWITCH_TOKEN:-$(python -c 'import secrets; print(secrets.token_hex(24))')}"
ip="${KERNELSWITCH_IP:-127.0.0.1}"
url="http://$ip:$port/lab/tree/notebooks/demo.ipynb?token=$token"
kernelswitch doctor || echo "(VM features need the fixes above; environments work regardless)"
# The demo notebook boots a VM from the tiny test OS that setup built (its
# kernels inherit these from the server).
testos="$(python -c 'from kernelswitch._paths import testos_dir; print(testos_dir())')"
if [[ -f "$testos/testos-fedora.iso" ]]; then
  export KERNELSWITCH_DEMO_ISO="$testos/testos-fedora.iso"
fi
export KERNELSWITCH_DEMO_VM="${KERNELSWITCH_DEMO_VM:-ks-demo}"
echo
echo "JupyterLab with kernelswitch:  $url"
echo
extra=()
[[ $EUID -eq 0 ]] && extra+=(--allow-root)
exec jupyter lab --no-browser --ip="$ip" --port="$port" --port-retries=0 \
  --IdentityProvider.token="$token" --ServerApp.root_dir="$PWD" \
  --LabApp.default_url=/lab/tree/notebooks/demo.ipynb "${extra[@]}"
