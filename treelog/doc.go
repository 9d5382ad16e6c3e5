// Package treelog implements fsync log trees: logging an inode, syncing the
// log, and replaying it at mount.
//
// Status: delivered by a later issue; this placeholder fixes its layer.
package treelog
