#!/usr/bin/env bash
# Run every native fuzz target of the module for a while each (default
# 65s), one after the other, and stop at the first crash. The targets are
# found with `go test -list`, so a new one is never forgotten.
#
#   bash scripts/fuzz.sh [FUZZTIME]      e.g. bash scripts/fuzz.sh 10m
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-65s}
n=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== $pkg $target ($fuzztime, $(date -u +%FT%TZ))"
		go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" \
			-fuzzminimizetime 100x -parallel "$(nproc)" 2>&1 | tail -3
		n=$((n + 1))
	done
done
echo "fuzz.sh: $n targets, $fuzztime each, no crash"
