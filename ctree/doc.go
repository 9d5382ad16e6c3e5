// Package ctree is the copy-on-write B-tree: keys, paths, SearchSlot with
// lock coupling and restarts, split and merge, item operations, iteration and
// the one COW predicate (shouldCOW) every policy goes through.
//
// Status: delivered by issue 3; this placeholder fixes its layer.
package ctree
