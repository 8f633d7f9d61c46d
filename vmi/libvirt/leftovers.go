package libvirt

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// gdbDirPrefix names the directories Attach makes for a gdbstub socket.
const gdbDirPrefix = "frost-gdb-"

// gdbDirGrace spares a directory younger than this: an Attach in another
// frostd may have made it a moment ago, before QEMU listens in it.
const gdbDirGrace = time.Minute

// ReapGDBDirs removes the frost-gdb-* directories under dir ("" for the
// temporary directory, as Attach uses) that a frostd which exited
// uncleanly left behind: those in which no process listens any more (the
// QEMU that served the gdbstub stopped it or exited). A directory whose
// socket still has a listener belongs to a live attachment, perhaps
// another frostd's or its guard's, and is kept. It returns what it
// removed; an error names what it could not.
func ReapGDBDirs(dir string) ([]string, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("libvirt: reaping gdbstub directories: %w", err)
	}
	var candidates []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), gdbDirPrefix) {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < gdbDirGrace {
			continue
		}
		candidates = append(candidates, filepath.Join(dir, e.Name()))
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	live, err := listeningUnixPaths()
	if err != nil {
		// Without the kernel's list every directory may be in use.
		return nil, fmt.Errorf("libvirt: reaping gdbstub directories: %w", err)
	}
	var removed []string
	var errs []error
	for _, d := range candidates {
		if inUse(d, live) {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, d)
	}
	return removed, errors.Join(errs...)
}

// inUse reports whether a listening socket lies in d.
func inUse(d string, live map[string]bool) bool {
	for p := range live {
		if filepath.Dir(p) == d {
			return true
		}
	}
	return false
}

// listeningUnixPaths lists the paths of the unix sockets some process
// listens on, from /proc/net/unix (the kernel's table for this network
// namespace, which QEMU shares with libvirt's frostd).
func listeningUnixPaths() (map[string]bool, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseUnixTable(bufio.NewScanner(f))
}

// soAcceptCon is the flags bit of a listening socket in /proc/net/unix.
const soAcceptCon = 0x10000

// parseUnixTable reads /proc/net/unix: "Num RefCount Protocol Flags Type
// St Inode Path"; a listener has __SO_ACCEPTCON in Flags.
func parseUnixTable(sc *bufio.Scanner) (map[string]bool, error) {
	out := map[string]bool{}
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue // the header
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue // unnamed
		}
		var flags uint64
		if _, err := fmt.Sscanf(f[3], "%x", &flags); err != nil || flags&soAcceptCon == 0 {
			continue
		}
		out[strings.Join(f[7:], " ")] = true
	}
	return out, sc.Err()
}
