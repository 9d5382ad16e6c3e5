package checker

// report collects rule errors. In first-error mode (all == false) checks stop
// as soon as one error is recorded; in all mode they go on.
type report struct {
	all  bool
	errs []*Error
}

// add records e; nil is ignored so checks can pass their result straight in.
func (r *report) add(e *Error) {
	if e != nil {
		r.errs = append(r.errs, e)
	}
}

// done reports whether checking should stop (first-error mode and a failure).
func (r *report) done() bool { return !r.all && len(r.errs) > 0 }

// err returns the first error as an error interface, or a true nil.
func (r *report) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return r.errs[0]
}
