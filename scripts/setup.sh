#!/usr/bin/env bash
# One idempotent setup for a fresh Debian/Ubuntu machine:
#   apt packages -> libvirt daemons -> .venv with the package -> front ends
#   (--test: also the cached test OS images and the browser for the tests;
#    --demo: also the test OS images, which the demo notebook boots as a VM)
# Running it again only checks; each step is skipped when already done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
want_test=0 want_testos=0
case "${1:-}" in
  --test) want_test=1 want_testos=1 ;;
  --demo) want_testos=1 ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--test | --demo]" >&2; exit 2 ;;
esac

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Time every step; the table at the end shows which one was slow.
step_names=() step_secs=()
step_start=$SECONDS step_name="checks"
step() {  # step NAME: close the running step, open the next
  step_names+=("$step_name") step_secs+=($((SECONDS - step_start)))
  step_name="$1" step_start=$SECONDS
}

# ---------------------------------------------------------------- apt
apt_packages=(
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
  ovmf libvirt-dev pkg-config gir1.2-libosinfo-1.0 osinfo-db libosinfo-bin
  libgirepository1.0-dev libcairo2-dev
  python3-venv python3-dev build-essential
  nodejs npm
  openssh-client
)
if (( want_testos )); then
  apt_packages+=(busybox-static isolinux syslinux-common xorriso)
fi
if (( want_test )); then
  apt_packages+=(chromium virtinst openssh-server)  # remote-host tests: a private sshd
fi

missing=()
for p in "${apt_packages[@]}"; do
  # nodejs/npm may come from elsewhere (nodesource, nvm): a working binary is enough
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if (( ${#missing[@]} )); then
  step "apt packages"
  cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
  if [[ $EUID -eq 0 ]]; then sudo=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo)
  else
    echo "Missing Debian packages: ${missing[*]}" >&2
    echo "Run this as root, then run this command again:" >&2
    echo "  sudo apt-get update && sudo ${cmd[*]}" >&2
    exit 1
  fi
  say "installing apt packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" "${cmd[@]}"
fi

# ---------------------------------------------------------------- libvirt daemons
# Under systemd, ask it (socket activation leaves no process running while
# idle). Without systemd (our machines), start them when a socket is missing
# or its daemon is gone.
as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else
    echo "This step needs root: $*" >&2
    echo "Run it as root (or give this user sudo), then run this command again." >&2
    exit 1
  fi
}
start_daemon() {  # name socket
  local name="$1" sock="$2"
  if [[ -d /run/systemd/system ]]; then
    systemctl is-active --quiet "$name.socket" "$name.service" 2>/dev/null \
      || as_root systemctl start "$name.socket" 2>/dev/null \
      || as_root systemctl start "$name"
    return
  fi
  if [[ -S "$sock" ]] && pgrep -x "$name" >/dev/null; then return; fi
  say "starting $name"
  as_root mkdir -p /var/log/libvirt /run/libvirt
  as_root rm -f "$sock"
  as_root "$name" -d
  for _ in $(seq 1 100); do [[ -S "$sock" ]] && return; sleep 0.1; done
  echo "$name did not create $sock; see /var/log/libvirt" >&2
  exit 1
}
# No udev either: give /dev/kvm the owner Debian's udev rule gives it. A
# root-only /dev/kvm makes libvirtd re-probe QEMU on every call (seconds each).
if [[ -e /dev/kvm && "$(stat -c %G:%a /dev/kvm)" != "kvm:660" ]] && getent group kvm >/dev/null; then
  say "giving /dev/kvm to group kvm (mode 0660), as udev would"
  as_root chgrp kvm /dev/kvm && as_root chmod 0660 /dev/kvm
fi
step "libvirt daemons"
start_daemon virtlogd /run/libvirt/virtlogd-sock
start_daemon libvirtd /run/libvirt/libvirt-sock

# ---------------------------------------------------------------- front ends
# Rebuilt only when their sources changed (hash stamp beside the output).
frontend_hash="$(cat package.json package-lock.json labextension/package.json labextension/tsconfig.json \
  widgets/package.json widgets/tsconfig.json $(find labextension/src labextension/style widgets/src -type f 2>/dev/null | sort) \
  2>/dev/null | sha256sum | cut -c1-16)"
stamp="kernelswitch/static/.build-$frontend_hash"
need_frontend=0
[[ -f "$stamp" && -f kernelswitch/labextension/package.json ]] || need_frontend=1

# ---------------------------------------------------------------- venv
# Debian's python3 by default (its -dev and -venv packages are installed
# above); $PYTHON picks another. Whatever comes first on PATH (a pyenv shim,
# a user install) does not decide it.
py="${PYTHON:-/usr/bin/python3}"
if [[ ! -x .venv/bin/python ]]; then
  step "venv"
  say "creating .venv with $("$py" --version)"
  "$py" -m venv .venv
fi
# Tools call tools (jupyter labextension -> jupyter-builder, npm run build ->
# jupyter labextension build): the venv's bin must come first on PATH.
export PATH="$root/.venv/bin:$PATH"
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
py_hash="$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f ".venv/.kernelswitch-$py_hash" ]]; then
  step "build tools"
  say "installing build tools into .venv"
  "${pip[@]}" install -U pip wheel
  "${pip[@]}" install "hatchling>=1.21" "hatch-jupyter-builder>=0.9" editables "jupyterlab>=4.6,<5"
fi

if (( need_frontend )); then
  step "front ends"
  say "building front ends (npm)"
  if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund --loglevel=error
  else npm install --no-audit --no-fund --loglevel=error; fi
  npm run build
  rm -f kernelswitch/static/.build-*
  touch "$stamp"
fi

if [[ ! -f ".venv/.kernelswitch-$py_hash" ]]; then
  step "vm bindings"
  # PyGObject and libvirt-python build from source where no wheel is cached:
  # with build isolation, pip brings their own build backends (meson-python,
  # setuptools), which the venv need not have.
  say "building the VM bindings (PyGObject compiles: about a minute)"
  "${pip[@]}" install "libvirt-python>=9" "PyGObject<3.51"
  step "kernelswitch"
  say "installing kernelswitch into .venv"
  # No isolation for our own build: the venv already has hatchling and
  # jupyterlab, so the editable build does not install them a second time.
  "${pip[@]}" install --no-build-isolation -e ".[test]"
  rm -f .venv/.kernelswitch-*
  touch ".venv/.kernelswitch-$py_hash"
fi
# An editable install copies the labextension once; link it instead so that
# front-end rebuilds are seen without reinstalling (the extension template's way).
labext=".venv/share/jupyter/labextensions/kernelswitch"
if [[ ! -L "$labext" ]]; then
  step "labextension link"
  jupyter labextension develop --overwrite . >/dev/null
fi

# ---------------------------------------------------------------- test OS
if (( want_testos )); then
  step "test OS"
  bash scripts/build-testos.sh
fi

step "done"
say "setup done; time per step:"
for i in "${!step_names[@]}"; do
  printf '    %-18s %4ds\n' "${step_names[$i]}" "${step_secs[$i]}"
done
