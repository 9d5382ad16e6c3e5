// Package cache holds extent buffers (the bytes of one tree block, their
// flags, lock and writeback blockers) in a memory-budgeted LRU, and writes
// dirty buffers back with checksums and the write-time tree checker.
//
// Status: the extent buffer cache is delivered by issue 3; this package is
// the placeholder that fixes its place in the layer order (STYLE.md).
package cache
