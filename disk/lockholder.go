package disk

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// procLocks is the kernel's table of file locks.
var procLocks = "/proc/locks"

// lockHolder names the process holding a flock on the file of st, from
// /proc/locks; an empty Holder when it is not visible.
func lockHolder(st fs.FileInfo) *Holder {
	b, err := os.ReadFile(procLocks)
	if err != nil {
		return &Holder{}
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if e, ok := parseLockLine(line); ok && e.on(st) {
			return &Holder{PID: e.pid, Writes: e.writes, Command: command(e.pid)}
		}
	}
	return &Holder{}
}

// lockEntry is a granted flock of /proc/locks.
type lockEntry struct {
	pid    int
	writes bool
	dev    string // "major:minor" in hex, as /proc/locks prints it
	ino    uint64
}

// parseLockLine reads a granted flock from a /proc/locks line:
// "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF". Waiters ("->") and
// other kinds of lock are skipped.
func parseLockLine(line string) (lockEntry, bool) {
	f := strings.Fields(line)
	if len(f) < 6 || f[1] != "FLOCK" {
		return lockEntry{}, false
	}
	pid, err := strconv.Atoi(f[4])
	i := strings.LastIndexByte(f[5], ':')
	if err != nil || pid <= 0 || i < 0 {
		return lockEntry{}, false
	}
	ino, err := strconv.ParseUint(f[5][i+1:], 10, 64)
	return lockEntry{pid: pid, writes: f[3] == "WRITE", dev: f[5][:i], ino: ino}, err == nil
}

// on reports whether the lock is on the file of st: the same inode
// number, on the same device or (when the device numbers differ, as a
// btrfs subvolume's do) in a file its process has open.
func (e lockEntry) on(st fs.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || e.ino != sys.Ino {
		return false
	}
	return e.dev == fmt.Sprintf("%02x:%02x", unix.Major(sys.Dev), unix.Minor(sys.Dev)) || hasOpen(e.pid, st)
}

// hasOpen reports whether process pid has the file of st open.
func hasOpen(pid int, st fs.FileInfo) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if fi, err := os.Stat(dir + "/" + e.Name()); err == nil && os.SameFile(fi, st) {
			return true
		}
	}
	return false
}

// command is pid's command line, spaces between the arguments, cut to
// maxCommand bytes ("" when it cannot be read).
func command(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	s := string(bytes.TrimSpace(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
	if len(s) > maxCommand {
		s = s[:maxCommand] + "..."
	}
	return s
}

// maxCommand keeps an error about a holder to one readable line.
const maxCommand = 120
