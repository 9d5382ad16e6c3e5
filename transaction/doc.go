// Package transaction runs transactions: handles with block reservations,
// the dirty set, commit (delayed refs, root items, writeback, superblocks)
// and abort.
//
// Status: delivered by issue 4; this placeholder fixes its layer.
package transaction
