package physmem

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// fdMatch is one of QEMU's open files that may hold guest RAM.
type fdMatch struct {
	path   string // /proc/<pid>/fd/<n>, which opens the file itself
	target string // what the link names, e.g. "/memfd:memory-backend-memfd (deleted)"
}

// findFDs lists QEMU's descriptors whose link target satisfies match.
// Opening /proc/<pid>/fd/<n> reaches files that have no name any more:
// a memfd, or the unlinked file QEMU makes when mem-path is a directory.
func findFDs(pid int, match func(target string) bool) ([]fdMatch, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("physmem: %w", err)
	}
	var out []fdMatch
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		target, err := os.Readlink(p)
		if err != nil {
			continue // closed meanwhile
		}
		if match(target) {
			out = append(out, fdMatch{path: p, target: target})
		}
	}
	return out, nil
}

// memfdPrefix is how /proc shows a memfd; QEMU names a
// memory-backend-memfd's memfd after the backend type.
const memfdPrefix = "/memfd:"

// openMatching opens the single match among fds whose size is at least
// size; more than one is ambiguous (several backends of one size), none
// is an error.
func openMatching(fds []fdMatch, size uint64, what string) (*os.File, error) {
	var found *os.File
	for _, m := range fds {
		f, err := os.Open(m.path)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() || uint64(st.Size()) < size {
			f.Close()
			continue
		}
		if found != nil {
			found.Close()
			f.Close()
			return nil, fmt.Errorf("physmem: more than one %s of QEMU is large enough for guest RAM; cannot tell which", what)
		}
		found = f
	}
	if found == nil {
		return nil, fmt.Errorf("physmem: QEMU has no open %s of %d bytes or more", what, size)
	}
	return found, nil
}

// checkMapped makes sure QEMU maps f: a RAM file found by name may have
// been replaced since QEMU opened it, and reading a stale copy would give
// plausible but wrong memory.
func checkMapped(pid int, f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("physmem: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	mf, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return fmt.Errorf("physmem: %w", err)
	}
	defer mf.Close()
	maps, err := parseMaps(mf)
	if err != nil {
		return err
	}
	major, minor := devNumbers(uint64(sys.Dev))
	for _, m := range maps {
		if m.inode == sys.Ino && m.major == major && m.minor == minor {
			return nil
		}
	}
	return fmt.Errorf("physmem: QEMU (pid %d) does not map %s (inode %d): a stale or replaced file", pid, f.Name(), sys.Ino)
}

// isQEMUTempFile says whether target is the unlinked file QEMU creates in
// a mem-path directory (qemu_ram_mmap's "qemu_back_mem.<name>.XXXXXX").
func isQEMUTempFile(dir, target string) bool {
	rest, ok := strings.CutPrefix(target, strings.TrimSuffix(dir, "/")+"/")
	return ok && strings.HasPrefix(rest, "qemu_back_mem.") && !strings.Contains(rest, "/")
}
