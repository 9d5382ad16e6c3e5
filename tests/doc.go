// Package tests holds cowfs integration tests: the layer-order rule and
// end-to-end runs against the external oracles (btrfs check, the kernel).
package tests
