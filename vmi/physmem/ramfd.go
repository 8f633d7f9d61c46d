package physmem

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// ErrNotShareable is OpenReadOnly on a backend whose guest RAM is not a
// file another process can map: /proc/<pid>/mem and the gdbstub read
// QEMU's private memory, which only frostd (with ptrace rights) reaches.
var ErrNotShareable = errors.New("physmem: guest RAM is not a shared file or memfd; only frostd can read it")

// OpenReadOnly opens the file that backs guest RAM (the shared RAM file or
// the memfd) afresh, read-only, for handing to another process. It is a
// new open file description: its O_RDONLY is what the receiver gets, so
// it can map the RAM for reading and never for writing, whatever frostd's
// own descriptors are. The file is checked to be the very one frostd has
// mapped (same device and inode): a path can be replaced, and a
// /proc/<pid>/fd/<n> can name another file once QEMU reuses the number.
// Size is the RAM block's size, the bytes a receiver may map.
func (m *Memory) OpenReadOnly() (f *os.File, size uint64, err error) {
	src, ok := m.src.(*mmapSource)
	if !ok {
		return nil, 0, ErrNotShareable
	}
	src.mu.RLock()
	defer src.mu.RUnlock()
	if src.data == nil {
		return nil, 0, ErrClosed
	}
	f, err = os.OpenFile(src.path, os.O_RDONLY, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("physmem: reopening guest RAM read-only: %w", err)
	}
	if err := sameAsMapping(f, uintptr(unsafe.Pointer(&src.data[0]))); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, m.gm.BlockSize(), nil
}

// sameAsMapping checks that f is the file mapped at addr in frostd's own
// address space, by /proc/self/maps' device and inode.
func sameAsMapping(f *os.File, addr uintptr) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("physmem: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("physmem: no inode for the reopened RAM file")
	}
	mf, err := os.Open("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("physmem: %w", err)
	}
	defer mf.Close()
	maps, err := parseMaps(mf)
	if err != nil {
		return err
	}
	major, minor := devNumbers(uint64(sys.Dev))
	for _, mp := range maps {
		if mp.start == uint64(addr) {
			if mp.inode == sys.Ino && mp.major == major && mp.minor == minor {
				return nil
			}
			return fmt.Errorf("physmem: %s is no longer the RAM file frostd maps (inode %d, mapped %d)", f.Name(), sys.Ino, mp.inode)
		}
	}
	return fmt.Errorf("physmem: frostd's mapping of guest RAM at %#x is not in /proc/self/maps", addr)
}
