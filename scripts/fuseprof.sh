#!/bin/bash
# fuseprof.sh: CPU profiles of the cowfs daemon (`cowfs mount --cpuprofile`)
# under three workloads through the mount, and the FUSE requests of one
# create counted from the daemon's --debug log. Needs root, fuse3, fio.
# Usage: scripts/fuseprof.sh OUTDIR [EXTRA MOUNT FLAGS...]
# Leaves OUTDIR/{create,dd,fio}.pprof, OUTDIR/*.top, OUTDIR/requests.txt.
set -euo pipefail
out=${1:?usage: fuseprof.sh OUTDIR [mount flags]}; shift
mkdir -p "$out"
bin=$out/cowfs
go build -o "$bin" ./cmd/cowfs
img=$out/img; mnt=$out/mnt
mkdir -p "$mnt"
command -v fio >/dev/null || { echo "fuseprof.sh: fio not installed" >&2; exit 1; }
# A failed step leaves no mount behind.
trap 'mountpoint -q "$mnt" && "$bin" umount "$mnt"' EXIT

# run NAME CMD...: fresh image, daemon with a profile, CMD in the mount, unmount.
run() {
	local name=$1; shift
	rm -f "$img"
	"$bin" mkfs --size 4G "$img" >/dev/null
	"$bin" mount --background --cpuprofile "$out/$name.pprof" "$@" "$img" "$mnt"
}
finish() {
	local name=$1
	"$bin" umount "$mnt"
	"$bin" fsck "$img" >/dev/null
	go tool pprof -top -nodecount 25 "$bin" "$out/$name.pprof" >"$out/$name.top" 2>/dev/null
	echo "$name: $(grep Duration "$out/$name.top")"
}

run create "$@"
for d in $(seq 0 99); do mkdir "$mnt/d$d"; done
"$bin" sync "$mnt"
s=$(date +%s.%N)
for i in $(seq 0 9999); do : >"$mnt/d$((i % 100))/f$i"; done
"$bin" sync "$mnt"
echo "create: 10000 files in $(echo "$(date +%s.%N) - $s" | bc) s"
finish create

run dd "$@"
dd if=/dev/urandom of="$out/src" bs=1M count=1024 status=none
dd if="$out/src" of="$mnt/f" bs=1M conv=fsync 2>&1 | tail -1
finish dd
rm -f "$out/src"

run fio "$@"
fio --name=rw --directory="$mnt" --rw=randwrite --bs=4k --size=256m --ioengine=psync \
	--end_fsync=1 --output-format=terse --terse-version=3 | awk -F';' '{print "fio: write IOPS " $49}'
finish fio

# Requests per create: one `: >FILE` (open O_CREAT|O_TRUNC, close) in a
# directory the kernel knows, counted from the debug log.
rm -f "$img"; "$bin" mkfs --size 1G "$img" >/dev/null
"$bin" mount --background --debug --log "$out/debug.log" "$@" "$img" "$mnt"
mkdir "$mnt/d"; stat "$mnt/d" >/dev/null
n0=$(wc -l <"$out/debug.log")
for i in $(seq 0 99); do : >"$mnt/d/f$i"; done
"$bin" umount "$mnt"
tail -n +"$((n0 + 1))" "$out/debug.log" | grep -o 'rx [0-9]*: [A-Z_]*' | awk '{print $3}' |
	sort | uniq -c | sort -rn >"$out/requests.txt"
echo "requests for 100 creates:"; cat "$out/requests.txt"
rm -f "$img"
