#!/bin/sh
# Runs the README's two commands in a brand-new Debian 12 root, as a new user
# would on a fresh machine with only make and git installed: a clean clone of
# this repository's HEAD, `make test`, then `make run` answering /healthz.
# Our own machines carry tools a fresh Debian lacks (a newer node, for one), so
# this is the check that the project's own files install everything it needs.
#
# usage: scripts/fresh-debian12.sh [COMMAND...]   (default: make test)
#        scripts/fresh-debian12.sh make docker-test   (podman in the root: 10-15 minutes cold)
# FRESH_KEEP=1 keeps the root (and its mounts) to look into after a failure.
# Needs root and debootstrap. The pristine root is made once (1-2 minutes) and
# kept as a tarball in $FRESH_CACHE; every run unpacks a new copy of it.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${FRESH_CACHE:-/var/tmp/spawnd-fresh}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d /var/tmp/spawnd-fresh-root.XXXXXX)
say() { echo "fresh-debian12: $*" >&2; }

cleanup() {
	if [ -n "${FRESH_KEEP:-}" ]; then say "kept: $root (mounted; umount -R it, then rm -rf)"; return; fi
	for m in dev/pts dev/shm dev proc sys; do umount -l "$root/$m" 2>/dev/null || true; done
	umount -l "$root" 2>/dev/null || true
	rm -rf "$root"
}
trap cleanup EXIT INT TERM

mkdir -p "$cache"
if [ ! -s "$cache/bookworm-minbase.tar" ]; then
	command -v debootstrap >/dev/null || { say "installing debootstrap"; apt-get install -y -q debootstrap; }
	say "debootstrap --variant=minbase bookworm (once; kept in $cache)"
	debootstrap --variant=minbase bookworm "$cache/root" "$mirror"
	tar -C "$cache/root" -cf "$cache/bookworm-minbase.tar" .
	rm -rf "$cache/root"
fi
say "unpacking a new root in $root"
tar -C "$root" -xf "$cache/bookworm-minbase.tar"

# What a Debian 12 machine has: its release and security suites (this host's list),
# name resolution, and the local CA certificates of this workplace's egress proxy,
# without which HTTPS to the npm registry fails (only when this host has any).
[ -f /etc/apt/sources.list.d/debian.sources ] && cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
[ -f /etc/apt/sources.list.d/debian.sources ] && : >"$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf"
extra_ca=""
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
	mkdir -p "$root/usr/local/share/ca-certificates"
	cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
	extra_ca=/etc/ssl/certs/ca-certificates.crt
fi
for m in proc sys dev dev/pts dev/shm; do mkdir -p "$root/$m"; done
# The root a mount point of its own, as a machine's / is: container tools (podman, for
# make docker-test) remount it and fail on a plain folder, and in_root pivots to it.
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs tmpfs "$root/dev/shm"

# Each command runs with the root as its mount namespace's / (unshare, then pivot_root), not
# only chrooted into it. A chroot's / is a folder below the namespace's root: a container's
# pivot_root then puts its rootfs on that folder, and `podman exec` (runc joins the
# container's namespace, which starts a process at the namespace's root) finds the host's
# files there: "chdir to cwd ... no such file or directory". A machine's / is that root.
in_root() {
	unshare --mount --propagation private /bin/sh -c 'cd "$1" && pivot_root . . && umount -l . &&
		exec chroot . /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
		${3:+NODE_EXTRA_CA_CERTS=$3} sh -c "$2"' in_root "$root" "$1" "$extra_ca"
}

say "installing make and git only (what the README assumes), and ca-certificates"
in_root "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends make git ca-certificates >/dev/null && update-ca-certificates >/dev/null"
say "cloning $(git -C "$repo" rev-parse --short HEAD) and shared/ into the root"
git clone -q "$repo" "$root/root/spawnd"
git -C "$root/root/spawnd" checkout -q "$(git -C "$repo" rev-parse HEAD)"
[ -d "$repo/../shared" ] && cp -r "$repo/../shared" "$root/root/shared"

cmd=${*:-make test}
say "running: $cmd"
status=0
in_root "cd /root/spawnd && $cmd" || status=$?
say "node in the root: $(in_root 'node --version 2>/dev/null || echo none')"
exit $status
