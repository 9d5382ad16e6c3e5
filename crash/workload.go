package crash

// Workload is a bounded sequence of filesystem operations with persistence
// points (Env.Sync, Env.Fsync) and marks.
type Workload struct {
	Name string
	Run  func(*Env) error
}
