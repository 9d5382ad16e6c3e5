// Package testmount syncs and unmounts the mounts that tests make, without
// depending on timing or on other tests: Sync commits one filesystem
// (syncfs(2)), never every mount on the machine as sync(2) does, and
// Unmount waits for a mount's users with a bounded back-off and, when it
// gives up, names the processes that hold the mount.
package testmount
