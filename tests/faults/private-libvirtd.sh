#!/bin/sh
# Hold a private mount namespace for a throw-away libvirtd (tests/faults).
#
# Usage: unshare --mount --propagation private private-libvirtd.sh ROOT [POOL_TMPFS_SIZE]
#
# Inside the namespace, libvirt's own folders are bind mounts of folders under
# ROOT, so a libvirtd started here (`nsenter --target PID --mount libvirtd`)
# keeps its sockets, state, config and caches apart from the host's daemon,
# which never sees it. With POOL_TMPFS_SIZE, ROOT/pool becomes a small tmpfs
# (a pool that fills up). Then this process waits: the namespace lives as long
# as it (or a daemon or guest started in it) does. The tests kill every
# process of the namespace at teardown (tests/faults/daemon.py); should the
# test process die first (killed, crashed), this script does it itself.
set -eu
root=$1
size=${2:-}
if [ -n "$size" ]; then
    mount -t tmpfs -o "size=$size,mode=0755" ks-faults-pool "$root/pool"
fi
mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
mount --bind "$root/run" /run/libvirt
mount --bind "$root/lib" /var/lib/libvirt
mount --bind "$root/cache" /var/cache/libvirt
mount --bind "$root/etc" /etc/libvirt
mount --bind "$root/log" /var/log/libvirt
echo ready
parent=$PPID
me=$(readlink /proc/$$/ns/mnt)
while kill -0 "$parent" 2>/dev/null; do
    sleep 1
done
# the tests are gone without tearing down: end every process of this namespace
for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    if [ "$pid" != "$$" ] && [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$me" ]; then
        kill -9 "$pid" 2>/dev/null || true
    fi
done
case "$root" in
    /tmp/ks-private-libvirtd-*) rm -rf "$root" ;;
esac
