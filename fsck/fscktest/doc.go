// Package fscktest builds real btrfs images for tests with the external
// oracles (mkfs.btrfs, a kernel loop mount) and damages them in precise
// ways, so tests can prove that fsck and dump-tree notice.
//
// Missing tools are not silent: a test that needs them is skipped with a
// message starting "SKIP:", and fails instead when the environment variable
// CI is set (CI must run the oracle tests).
package fscktest
