#!/usr/bin/env bash
# Set up a fresh machine and run cowfs's main job end to end:
#   install btrfs-progs, build cowfs, make an image with `cowfs mkfs`, let
#   `btrfs check` judge it, let the kernel mount it and write files, judge it
#   again, then read it back with `cowfs fsck` and `cowfs dump-tree`.
# Needs root for apt-get and the loop mount (the mount step is skipped, loudly,
# without root).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v btrfs >/dev/null || ! command -v mkfs.btrfs >/dev/null; then
	echo "== installing btrfs-progs"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq btrfs-progs fuse3 attr >/dev/null
fi

echo "== building cowfs"
mkdir -p bin
go build -o bin/cowfs ./cmd/cowfs

work=$(mktemp -d)
img="$work/demo.img"
trap 'umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== cowfs mkfs"
bin/cowfs mkfs --size 256M --label demo "$img"
echo "== btrfs check (the oracle)"
btrfs check "$img"

if [ "$(id -u)" = 0 ] && mkdir -p "$work/mnt" && mount -o loop "$img" "$work/mnt"; then
	echo "== kernel: mounted rw, writing files"
	mkdir -p "$work/mnt/dir/sub"
	printf 'hello from the kernel\n' >"$work/mnt/dir/inline.txt"
	head -c 204800 /dev/urandom >"$work/mnt/dir/big.bin"
	sync
	umount "$work/mnt"
	echo "== btrfs check after the kernel's writes"
	btrfs check "$img"
else
	echo "!! SKIP: kernel mount step needs root and loop devices" >&2
fi

echo "== cowfs fsck"
bin/cowfs fsck "$img"
echo "== cowfs dump-tree -t fs (the kernel's files, read by cowfs)"
bin/cowfs dump-tree -t fs "$img" | head -40
echo "== done: cowfs binary at bin/cowfs"
