#!/usr/bin/env bash
# Build the test OS images (offline, from Debian packages) into
# $KERNELSWITCH_TESTOS_DIR; by default /var/cache/kernelswitch/testos for root
# and $KERNELSWITCH_CACHE/testos or ~/.cache/kernelswitch/testos for others
# (kernelswitch._paths.testos_dir says the same).
#
#   testos-fedora.iso  volume id Fedora-WS-Live-37-1-7: libosinfo says fedora37
#   testos-plain.iso   volume id TESTOS: libosinfo does not identify it
#
# The guest: Debian's kernel + a busybox initramfs whose /init loads the disk,
# sound and USB-input modules, writes KERNELSWITCH-TESTOS-READY to ttyS0,
# powers off on the ACPI power button (so `virsh shutdown` works) and runs a
# shell on the VGA console (tty1), so keys typed there can be checked in the
# serial log: `echo hello > /dev/ttyS0`.
#
# Idempotent: nothing is done when both ISOs exist and the stamp holds the hash
# of this recipe. `--force` rebuilds.
#
# Guests run as user libvirt-qemu when libvirtd is root's, so the ISOs must be
# readable by it. That is why root's copy lives in a system folder rather than
# under /root (0700): this script changes the permissions of nothing but the
# folder and files it makes. If the hypervisor user still cannot read them (a
# $KERNELSWITCH_TESTOS_DIR in a private folder), it stops and says how to
# grant access; it never does so itself.
set -euo pipefail
umask 022  # what this script makes is readable by all (the hypervisor user included)

force=0
[[ "${1:-}" == "--force" ]] && force=1

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "build-testos: $*" >&2; exit 1; }

if [[ -n "${KERNELSWITCH_CACHE:-}" ]]; then user_cache="$KERNELSWITCH_CACHE"
else user_cache="${XDG_CACHE_HOME:-$HOME/.cache}/kernelswitch"; fi
if [[ -n "${KERNELSWITCH_TESTOS_DIR:-}" ]]; then out="$KERNELSWITCH_TESTOS_DIR"
elif [[ $EUID -eq 0 ]]; then out=/var/cache/kernelswitch/testos
else out="$user_cache/testos"; fi
debs="$(dirname "$out")/debs"
marker="KERNELSWITCH-TESTOS-READY"
recipe="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"
stamp="$out/.recipe-$recipe"
fedora_iso="$out/testos-fedora.iso"
plain_iso="$out/testos-plain.iso"

# ------------------------------------------------------------- reachability
make_reachable() {
  # Our own folder and ISOs: readable by all. Folders above them: only checked.
  chmod 0755 "$out"
  chmod 0644 "$fedora_iso" "$plain_iso"
  id libvirt-qemu >/dev/null 2>&1 || return 0
  [[ $EUID -eq 0 ]] || return 0
  runuser -u libvirt-qemu -- test -r "$fedora_iso" && return 0
  local d="$out" blocked=()
  while [[ "$d" != "/" ]]; do
    d="$(dirname "$d")"
    runuser -u libvirt-qemu -- test -x "$d" || blocked+=("$d")
  done
  die "guests run as libvirt-qemu, which cannot read $fedora_iso (it cannot enter: ${blocked[*]:-?}).
  Unset KERNELSWITCH_TESTOS_DIR (root's default, /var/cache/kernelswitch/testos, is reachable),
  or grant that one user access yourself: setfacl -m u:libvirt-qemu:x ${blocked[*]:-DIR}"
}

if (( ! force )) && [[ -f "$stamp" && -f "$fedora_iso" && -f "$plain_iso" ]]; then
  make_reachable
  echo "test OS images up to date in $out"
  exit 0
fi

for tool in busybox xorriso gzip python3 apt-get dpkg; do
  command -v "$tool" >/dev/null || die "missing $tool: run scripts/setup.sh --test"
done
busybox_bin="$(command -v busybox)"
file -b "$busybox_bin" 2>/dev/null | grep -q dynamic && die "$busybox_bin is not static: apt-get install busybox-static"
isolinux_bin=/usr/lib/ISOLINUX/isolinux.bin
isohdpfx=/usr/lib/ISOLINUX/isohdpfx.bin
ldlinux=/usr/lib/syslinux/modules/bios/ldlinux.c32
for f in "$isolinux_bin" "$isohdpfx" "$ldlinux"; do
  [[ -f "$f" ]] || die "missing $f: apt-get install isolinux syslinux-common"
done

mkdir -p "$out" "$debs"

# ------------------------------------------------------------- kernel package
kpkg="$(apt-cache depends linux-image-amd64 2>/dev/null \
  | sed -n 's/^ *Depends: \(linux-image-[0-9.]*-[0-9]*-amd64\)$/\1/p' | head -n1)"
[[ -n "$kpkg" ]] || die "cannot tell which kernel linux-image-amd64 depends on (apt-get update?)"
# (a copy kept by an older build in the user's cache saves the download)
deb="$(ls "$debs/${kpkg}"_*.deb "$user_cache/debs/${kpkg}"_*.deb 2>/dev/null | head -n1 || true)"
if [[ -z "$deb" ]]; then
  say "downloading $kpkg (~70 MB, once)"
  (cd "$debs" && apt-get download "$kpkg")
  deb="$(ls "$debs/${kpkg}"_*.deb | head -n1)"
fi

work="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
say "unpacking $(basename "$deb")"
dpkg -x "$deb" "$work/kpkg"
kver="${kpkg#linux-image-}"
moddir="$work/kpkg/lib/modules/$kver"
[[ -d "$moddir" ]] || die "no modules for $kver in $deb"

# ------------------------------------------------------------- initramfs
root="$work/initramfs"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,mnt,etc/acpi/PWRF,lib/modules}
cp "$busybox_bin" "$root/bin/busybox"

# Modules in load order (dependencies first), resolved from each module's
# .modinfo "depends=" (no depmod needed on the host).
wanted=(virtio_pci virtio_blk ahci sd_mod sr_mod snd-hda-intel snd-hda-codec-generic
        snd-intel8x0 snd-pcm-oss xhci-pci usbhid hid-generic evdev button
        virtio_net virtiofs)
# Loaded on demand by `ks-fb` (the console tests' resolution change): the bochs
# DRM driver turns QEMU's VGA from 720x400 text into a 1024x768 framebuffer.
wanted_fb=(bochs)
resolve_modules() {  # output-list module...
  local out="$1"; shift
  python3 - "$moddir" "$root/lib/modules" "$@" >"$out" <<'PY'
import os, shutil, sys
moddir, dest, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
norm = lambda n: n.replace("-", "_")
path = {}
for d, _, files in os.walk(moddir):
    for f in files:
        if f.endswith(".ko"):
            path[norm(f[:-3])] = os.path.join(d, f)
def deps(name):
    with open(path[name], "rb") as fh:
        for s in fh.read().split(b"\0"):
            if s.startswith(b"depends="):
                return [norm(x) for x in s[8:].decode().split(",") if x]
    return []
order, seen = [], set()
def visit(name):
    if name in seen:
        return
    seen.add(name)
    for dep in deps(name):
        visit(dep)
    order.append(name)
for w in wanted:
    if norm(w) not in path:
        sys.exit(f"module {w} not found in {moddir}")
    visit(norm(w))
for name in order:
    shutil.copy(path[name], os.path.join(dest, name + ".ko"))
    print(name)
PY
}
resolve_modules "$root/etc/modules" "${wanted[@]}"
resolve_modules "$root/etc/modules-fb" "${wanted_fb[@]}"
say "initramfs modules: $(tr '\n' ' ' <"$root/etc/modules")"

# Helpers the console tests type on the VGA console (each reports to ttyS0):
#   ks-fb      load the bochs framebuffer driver: the screen resolution changes
#   ks-mouse   wait for events from the USB tablet (the console's mouse)
#   ks-tone    play noise on the AC97 card through OSS (/dev/dsp)
cat >"$root/bin/ks-fb" <<'SH'
#!/bin/sh
while read -r m; do insmod "/lib/modules/$m.ko" 2>/dev/null; done </etc/modules-fb
sleep 1
echo "KS-FB $(cat /sys/class/graphics/fb0/virtual_size 2>/dev/null)" > /dev/ttyS0
SH
cat >"$root/bin/ks-mouse" <<'SH'
#!/bin/sh
for d in /sys/class/input/event*; do
  grep -q Tablet "$d/device/name" 2>/dev/null && dev="/dev/input/${d##*/}"
done
[ -n "$dev" ] || { echo "KS-MOUSE no tablet" > /dev/ttyS0; exit 1; }
echo "KS-MOUSE-WAITING $dev" > /dev/ttyS0
n=$(dd if="$dev" bs=24 count=8 2>/dev/null | wc -c)
echo "KS-MOUSE-EVENTS bytes=$n" > /dev/ttyS0
SH
cat >"$root/bin/ks-tone" <<'SH'
#!/bin/sh
dd if=/dev/urandom of=/dev/dsp bs=4096 count="${1:-200}" 2>/dev/null
echo "KS-TONE-DONE $?" > /dev/ttyS0
SH
chmod 0755 "$root/bin/ks-fb" "$root/bin/ks-mouse" "$root/bin/ks-tone"

# The guest's network (QEMU user networking, virtio_net): busybox udhcpc runs
# this script with the lease in its environment; the address goes to ttyS0.
cat >"$root/etc/udhcpc.sh" <<'SH'
#!/bin/sh
case "$1" in
  deconfig) ifconfig "$interface" 0.0.0.0 up ;;
  bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    [ -n "$router" ] && route add default gw "${router%% *}" dev "$interface"
    echo "KS-NET $interface $ip" > /dev/ttyS0 ;;
esac
SH
chmod 0755 "$root/etc/udhcpc.sh"

# busybox acpid turns the power button (input event KEY_POWER) into the
# action PWRF/00000080, which runs the files in /etc/acpi/PWRF/.
cat >"$root/etc/acpi/PWRF/00000080" <<'SH'
#!/bin/sh
echo "KERNELSWITCH-TESTOS-POWEROFF" > /dev/ttyS0
sync
poweroff -f
SH
chmod 0755 "$root/etc/acpi/PWRF/00000080"
echo "PWRF PWRF/00000080" >"$root/etc/acpid.conf"

cat >"$root/init" <<SH
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do insmod "/lib/modules/\$m.ko" 2>/dev/null; done </etc/modules
mdev -s 2>/dev/null
sleep 1
acpid -c /etc/acpi -a /etc/acpid.conf -l /tmp/acpid.log
hostname testos
{
  echo "KERNELSWITCH-TESTOS kernel=\$(uname -r)"
  echo "KERNELSWITCH-TESTOS disks=\$(ls /sys/block | tr '\n' ' ')"
  echo "KERNELSWITCH-TESTOS sound=\$(cat /proc/asound/cards 2>/dev/null | grep -c '^ *[0-9]')"
  echo "KERNELSWITCH-TESTOS input=\$(cat /sys/class/input/*/name 2>/dev/null | tr '\n' ';')"
  echo "$marker"
} >/dev/ttyS0
echo "$marker (type: echo hello > /dev/ttyS0)" >/dev/tty1
ifconfig lo up
[ -d /sys/class/net/eth0 ] && { ifconfig eth0 up; udhcpc -i eth0 -s /etc/udhcpc.sh -t 10 -q >/dev/null 2>&1 & }
# A shell on the serial port too (the serial terminal's tests); the pause keeps
# a port without input (a file serial) from respawning it in a loop.
( export PS1='testos# '
  while true; do setsid -c sh </dev/ttyS0 >/dev/ttyS0 2>&1; sleep 1; done ) &
# pid 1 must never exit: respawn the console shell.
while true; do
  setsid -c sh </dev/tty1 >/dev/tty1 2>&1
done
SH
chmod 0755 "$root/init"
(cd "$root" && find . | LC_ALL=C sort | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -9n) \
  >"$work/initrd.gz"

# ------------------------------------------------------------- ISOs
iso="$work/iso"
mkdir -p "$iso/isolinux" "$iso/boot"
cp "$work/kpkg/boot/vmlinuz-$kver" "$iso/boot/vmlinuz"
cp "$work/initrd.gz" "$iso/boot/initrd.gz"
cp "$isolinux_bin" "$ldlinux" "$iso/isolinux/"
cat >"$iso/isolinux/isolinux.cfg" <<'CFG'
DEFAULT testos
PROMPT 0
TIMEOUT 0
LABEL testos
  KERNEL /boot/vmlinuz
  INITRD /boot/initrd.gz
  APPEND console=ttyS0 console=tty0 loglevel=4 panic=5
CFG

mkiso() {  # volid output (written beside it, then renamed: running guests keep the old one)
  xorriso -as mkisofs -quiet -o "$2.tmp.$$" -V "$1" -sysid LINUX -J -R \
    -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table \
    -isohybrid-mbr "$isohdpfx" "$iso" 2>/dev/null
  mv -f "$2.tmp.$$" "$2"
}
say "writing ISOs"
mkiso Fedora-WS-Live-37-1-7 "$fedora_iso"
mkiso TESTOS "$plain_iso"

if command -v osinfo-detect >/dev/null; then
  # (capture first: `grep -q` closing the pipe early would trip pipefail)
  detected="$(osinfo-detect "$fedora_iso" 2>&1 || true)"
  [[ "$detected" == *"OS 'Fedora Workstation 37"* ]] \
    || die "libosinfo does not identify $fedora_iso as fedora37: $detected"
  detected="$(osinfo-detect "$plain_iso" 2>&1 || true)"
  [[ "$detected" != *"for OS"* ]] || die "libosinfo unexpectedly identifies $plain_iso: $detected"
fi

echo "kernel=$kpkg" >"$stamp"
find "$out" -maxdepth 1 -name '.recipe-*' ! -name "${stamp##*/}" -delete
make_reachable
say "test OS images ready in $out"
ls -l "$fedora_iso" "$plain_iso"
