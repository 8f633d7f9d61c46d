package physmem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/frostvmi/frost/vmi/qmp"
)

// Options says what Open may use to find guest RAM.
type Options struct {
	// Monitor is QEMU's QMP (direct or through libvirt); required.
	Monitor *qmp.Monitor
	// PID is QEMU's process id, or 0 if unknown. It is needed for memfd
	// and /proc/<pid>/mem, and to check that a RAM file found by name is
	// the one QEMU maps.
	PID int
	// Reference verifies a /proc/<pid>/mem mapping and is the last-resort
	// backend; nil rules both out.
	Reference Reference
	// Map is the guest-physical map; nil asks QEMU (MapFromMonitor).
	Map *Map
}

// Open finds the best backend for guest RAM: the shared RAM file or memfd
// QEMU maps (found through QOM), else /proc/<pid>/mem verified against the
// reference, else the reference. Memory.Skipped tells why better ones
// were passed over; if none works the error is an *OpenError.
func Open(ctx context.Context, opt Options) (*Memory, error) {
	if opt.Monitor == nil {
		return nil, errors.New("physmem: Open needs QEMU's monitor")
	}
	gm := opt.Map
	if gm == nil {
		var err error
		if gm, err = MapFromMonitor(ctx, opt.Monitor); err != nil {
			return nil, err
		}
	}
	var skipped []Attempt
	mem, kind, err := openShared(ctx, opt, gm)
	if err == nil {
		return mem, nil
	}
	skipped = append(skipped, Attempt{Kind: kind, Err: err})
	if ctx.Err() != nil {
		return nil, &OpenError{Attempts: skipped}
	}

	switch {
	case opt.PID <= 0:
		skipped = append(skipped, Attempt{Kind: KindProcMem, Err: errors.New("QEMU's pid is unknown")})
	case opt.Reference == nil:
		skipped = append(skipped, Attempt{Kind: KindProcMem, Err: errors.New("no reference reader to verify a mapping with")})
	default:
		mem, err := OpenProcess(ctx, opt.PID, gm, opt.Reference)
		if err == nil {
			mem.skipped = skipped
			return mem, nil
		}
		skipped = append(skipped, Attempt{Kind: KindProcMem, Err: err})
	}

	if opt.Reference == nil {
		skipped = append(skipped, Attempt{Kind: KindReference, Err: errors.New("no reference reader")})
		return nil, &OpenError{Attempts: skipped}
	}
	mem = NewReferenceMemory(opt.Reference, gm)
	mem.skipped = skipped
	return mem, nil
}

// openShared maps the memory backend behind the RAM block, if it is one
// a second process can share. kind says which backend was tried.
func openShared(ctx context.Context, opt Options, gm *Map) (*Memory, Kind, error) {
	backends, err := opt.Monitor.MemoryBackends(ctx)
	if err != nil {
		return nil, KindSharedFile, fmt.Errorf("listing memory backends: %w", err)
	}
	var b *qmp.MemoryBackend
	for i := range backends {
		if backends[i].ID == gm.Block() {
			b = &backends[i]
		}
	}
	switch {
	case b == nil:
		return nil, KindSharedFile, fmt.Errorf("RAM block %q has no memory backend object: guest RAM is QEMU's private memory", gm.Block())
	case b.Type == "memory-backend-memfd":
		return openMemfd(opt, gm, b)
	case b.Type != "memory-backend-file":
		return nil, KindSharedFile, fmt.Errorf("backend %q is a %s: guest RAM is QEMU's private memory", b.ID, b.Type)
	case !b.Share:
		return nil, KindSharedFile, fmt.Errorf("backend %q has share=off: QEMU maps %s privately, so guest writes never reach the file", b.ID, b.MemPath)
	}
	mem, err := openBackendFile(opt, gm, b)
	return mem, KindSharedFile, err
}

func openBackendFile(opt Options, gm *Map, b *qmp.MemoryBackend) (*Memory, error) {
	st, err := os.Stat(b.MemPath)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", b.ID, err)
	}
	var f *os.File
	if st.IsDir() {
		// QEMU made an unlinked file in the directory; only its fd is left.
		if opt.PID <= 0 {
			return nil, fmt.Errorf("backend %q: mem-path %s is a directory, and finding QEMU's unlinked file there needs its pid", b.ID, b.MemPath)
		}
		fds, err := findFDs(opt.PID, func(t string) bool { return isQEMUTempFile(b.MemPath, strings.TrimSuffix(t, " (deleted)")) })
		if err != nil {
			return nil, err
		}
		if f, err = openMatching(fds, gm.BlockSize(), "file in "+b.MemPath); err != nil {
			return nil, err
		}
	} else if f, err = os.Open(b.MemPath); err != nil {
		return nil, fmt.Errorf("backend %q: %w", b.ID, err)
	}
	defer f.Close()
	if opt.PID > 0 {
		if err := checkMapped(opt.PID, f); err != nil {
			return nil, err
		}
	}
	src, err := mapFile(f, gm.BlockSize())
	if err != nil {
		return nil, err
	}
	return newMemory(gm, src, KindSharedFile, b.MemPath), nil
}

func openMemfd(opt Options, gm *Map, b *qmp.MemoryBackend) (*Memory, Kind, error) {
	if !b.Share {
		return nil, KindMemfd, fmt.Errorf("memfd backend %q has share=off", b.ID)
	}
	if opt.PID <= 0 {
		return nil, KindMemfd, fmt.Errorf("memfd backend %q: finding the memfd needs QEMU's pid", b.ID)
	}
	fds, err := findFDs(opt.PID, func(t string) bool { return strings.HasPrefix(t, memfdPrefix) })
	if err != nil {
		return nil, KindMemfd, err
	}
	f, err := openMatching(fds, gm.BlockSize(), "memfd")
	if err != nil {
		return nil, KindMemfd, err
	}
	defer f.Close()
	if err := checkMapped(opt.PID, f); err != nil {
		return nil, KindMemfd, err
	}
	src, err := mapFile(f, gm.BlockSize())
	if err != nil {
		return nil, KindMemfd, err
	}
	return newMemory(gm, src, KindMemfd, fmt.Sprintf("pid %d %s", opt.PID, f.Name())), KindMemfd, nil
}
