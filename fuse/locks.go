package fuse

import (
	"sync"
	"syscall"

	gofuse "github.com/hanwen/go-fuse/v2/fuse"
)

// locks is the daemon's table of byte-range locks. A lock belongs to one
// open of a file (its FUSE file handle) and conflicts with the locks held
// through any other open, also one of the same process: open-file-
// description semantics, as go-fuse's loopback gives (and posixtest
// expects), rather than per-process POSIX locks. flock(2) goes through the
// same table over the whole file.
type locks struct {
	mu   sync.Mutex
	cond *sync.Cond
	m    map[uint64][]heldLock // by inode
}

type heldLock struct {
	fh         uint64
	typ        uint32
	start, end uint64 // inclusive, as FUSE sends them
	pid        uint32
}

func newLocks() *locks {
	l := &locks{m: map[uint64][]heldLock{}}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func overlaps(a heldLock, start, end uint64) bool { return a.start <= end && start <= a.end }

// conflict returns a lock of another open that excludes want.
func (l *locks) conflict(ino uint64, want heldLock) (heldLock, bool) {
	for _, h := range l.m[ino] {
		if h.fh != want.fh && overlaps(h, want.start, want.end) && (h.typ == syscall.F_WRLCK || want.typ == syscall.F_WRLCK) {
			return h, true
		}
	}
	return heldLock{}, false
}

// set replaces fh's locks over [start, end] with want (none for F_UNLCK).
func (l *locks) set(ino uint64, want heldLock) {
	var out []heldLock
	for _, h := range l.m[ino] {
		if h.fh != want.fh || !overlaps(h, want.start, want.end) {
			out = append(out, h)
			continue
		}
		if h.start < want.start {
			out = append(out, heldLock{h.fh, h.typ, h.start, want.start - 1, h.pid})
		}
		if h.end > want.end {
			out = append(out, heldLock{h.fh, h.typ, want.end + 1, h.end, h.pid})
		}
	}
	if want.typ != syscall.F_UNLCK {
		out = append(out, want)
	}
	if len(out) == 0 {
		delete(l.m, ino) // an entry per file ever released would stay
	} else {
		l.m[ino] = out
	}
	l.cond.Broadcast()
}

// release drops every lock held through fh.
func (l *locks) release(ino, fh uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.set(ino, heldLock{fh: fh, typ: syscall.F_UNLCK, start: 0, end: ^uint64(0)})
}

func lockOf(in *gofuse.LkIn) heldLock {
	h := heldLock{fh: in.Fh, typ: in.Lk.Typ, start: in.Lk.Start, end: in.Lk.End, pid: in.Lk.Pid}
	if in.LkFlags&gofuse.LK_FLOCK != 0 {
		h.start, h.end = 0, ^uint64(0)
	}
	return h
}

func (r *raw) GetLk(_ <-chan struct{}, in *gofuse.LkIn, out *gofuse.LkOut) (st gofuse.Status) {
	defer recovered("getlk", &st)
	l := r.locks
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.conflict(r.ino(in.NodeId), lockOf(in)); ok {
		out.Lk = gofuse.FileLock{Start: h.start, End: h.end, Typ: h.typ, Pid: h.pid}
		return gofuse.OK
	}
	out.Lk = in.Lk
	out.Lk.Typ = syscall.F_UNLCK
	return gofuse.OK
}

func (r *raw) SetLk(_ <-chan struct{}, in *gofuse.LkIn) (st gofuse.Status) {
	defer recovered("setlk", &st)
	l := r.locks
	l.mu.Lock()
	defer l.mu.Unlock()
	want := lockOf(in)
	if _, ok := l.conflict(r.ino(in.NodeId), want); ok && want.typ != syscall.F_UNLCK {
		return gofuse.EAGAIN
	}
	l.set(r.ino(in.NodeId), want)
	return gofuse.OK
}

// SetLkw waits for conflicting locks to go; an interrupted wait answers
// EINTR.
func (r *raw) SetLkw(cancel <-chan struct{}, in *gofuse.LkIn) (st gofuse.Status) {
	defer recovered("setlkw", &st)
	l := r.locks
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-cancel:
			l.mu.Lock()
			l.cond.Broadcast()
			l.mu.Unlock()
		case <-stop:
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	want := lockOf(in)
	for want.typ != syscall.F_UNLCK {
		if _, ok := l.conflict(r.ino(in.NodeId), want); !ok {
			break
		}
		select {
		case <-cancel:
			return gofuse.EINTR
		default:
		}
		l.cond.Wait()
	}
	l.set(r.ino(in.NodeId), want)
	return gofuse.OK
}
