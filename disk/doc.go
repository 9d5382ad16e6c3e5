// Package disk is cowfs's block device layer: the Device interface with a file
// implementation that uses O_DIRECT (buffered I/O and fdatasync where the
// host filesystem refuses it) and an in-memory one for tests, I/O
// counters by kind (metadata, data, superblock), the logical-to-physical
// chunk map, and superblock I/O across the primary copy and its mirrors.
// OpenFile locks the image it opens — one writer, or any number of
// readers (lock.go) — and names the holder of an image in use.
// FaultDevice wraps any Device to fail chosen operations for tests: the
// n-th write of a kind, writes or reads of a range, flushes, torn writes,
// and a crash point after which every write and flush fails.
//
// Everything above this package reads and writes through a Device; nothing
// above it opens files.
package disk
