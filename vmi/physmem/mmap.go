package physmem

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
)

// mmapSource reads a RAM file (or memfd) through a read-only shared
// mapping: the guest's writes show up in it at once, and nothing Frost
// does can write guest RAM through it.
type mmapSource struct {
	mu   sync.RWMutex // read-held while copying, so close cannot unmap under a reader
	data []byte
	path string
}

// mapFile maps the first size bytes of f read-only and shared. f may be
// closed afterwards.
func mapFile(f *os.File, size uint64) (*mmapSource, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("physmem: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("physmem: %s is not a regular file", f.Name())
	}
	// Mapping past the end of the file would turn reads there into
	// SIGBUS, so a short file is refused up front.
	if st.Size() < 0 || uint64(st.Size()) < size {
		return nil, fmt.Errorf("physmem: %s holds %d bytes, less than the RAM block's %d", f.Name(), st.Size(), size)
	}
	if size > uint64(maxInt) {
		return nil, fmt.Errorf("physmem: RAM block of %d bytes does not fit the address space", size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	runtime.KeepAlive(f)
	if err != nil {
		return nil, fmt.Errorf("physmem: mapping %s: %w", f.Name(), err)
	}
	return &mmapSource{data: data, path: f.Name()}, nil
}

const maxInt = int(^uint(0) >> 1)

func (s *mmapSource) read(_ context.Context, p []byte, gpa, off uint64) (err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.data == nil {
		return ErrClosed
	}
	// A truncated file faults instead of returning an error; turn that
	// fault into an error for this read rather than a crash.
	defer func() {
		if r := recover(); r != nil {
			err = &FaultError{GPA: gpa, Path: s.path, Err: fmt.Errorf("%v", r)}
		}
	}()
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	copy(p, s.data[off:off+uint64(len(p))])
	return nil
}

func (s *mmapSource) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil {
		return ErrClosed
	}
	err := syscall.Munmap(s.data)
	s.data = nil
	return err
}

// OpenFile maps the RAM file at path (a memory-backend-file with
// share=on, whose file offsets are RAM block offsets) and reads guest RAM
// from it. Open finds the file by itself; this is for callers that
// already know it.
func OpenFile(path string, gm *Map) (*Memory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("physmem: %w", err)
	}
	defer f.Close()
	src, err := mapFile(f, gm.BlockSize())
	if err != nil {
		return nil, err
	}
	return newMemory(gm, src, KindSharedFile, path), nil
}
