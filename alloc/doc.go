// Package alloc manages space: block groups, free space, pinned extents,
// block reservations and delayed references.
//
// Status: delivered by issue 4; this placeholder fixes its layer.
package alloc
