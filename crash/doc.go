// Package crash is the crash harness (issue 11, docs/crash.md): a workload
// runs on a disk.RecordDevice, the recording is cut into crash states
// (L0 every flush, FUA and mark; L1 prefixes, L2 subsets and L3 torn
// writes of the writes in flight at a flush or FUA), each state is built
// as an in-memory overlay over a shared durable image and deduplicated by
// a content digest, and the oracles run on each: the image opens, our fsck
// is clean, and it holds exactly what a commit recorded in the model.
package crash
