package crash

// Workload is a bounded sequence of filesystem operations with persistence
// points (Env.Sync, Env.Fsync) and marks.
type Workload struct {
	Name string
	Run  func(*Env) error
	// CacheNodes is the cache budget of the run, in nodes; 0 means 4 MiB.
	CacheNodes int
}
