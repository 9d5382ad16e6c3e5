package testmount

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Holders scans /proc for processes that use a path under dir: as working
// or root directory, executable, open descriptor or mapped file. Each is
// described as "pid 123 (comm) fd 4 -> /mnt/x/file".
func Holders(dir string) []string {
	dir = filepath.Clean(dir)
	pids, _ := filepath.Glob("/proc/[0-9]*")
	var out []string
	for _, p := range pids {
		for _, use := range uses(p, dir) {
			out = append(out, fmt.Sprintf("pid %s (%s) %s", filepath.Base(p), comm(p), use))
		}
	}
	return out
}

// uses lists how process directory p refers to paths under dir.
func uses(p, dir string) []string {
	links := []string{"cwd", "root", "exe"}
	fds, _ := filepath.Glob(filepath.Join(p, "fd", "*"))
	for _, fd := range fds {
		links = append(links, strings.TrimPrefix(fd, p+"/"))
	}
	var out []string
	for _, l := range links {
		if target, err := os.Readlink(filepath.Join(p, l)); err == nil && under(target, dir) {
			out = append(out, strings.Replace(l, "/", " ", 1)+" -> "+target)
		}
	}
	return append(out, mapped(p, dir)...)
}

// mapped lists the files under dir that process directory p has mapped.
func mapped(p, dir string) []string {
	f, err := os.Open(filepath.Join(p, "maps"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 6 && under(fields[5], dir) && !slices.Contains(out, "maps "+fields[5]) {
			out = append(out, "maps "+fields[5])
		}
	}
	return out
}

func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

func comm(p string) string {
	b, _ := os.ReadFile(filepath.Join(p, "comm"))
	return strings.TrimSpace(string(b))
}
