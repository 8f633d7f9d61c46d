package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/frostvmi/frost/translate"
)

// vmRAM is one VM's guest RAM mapped read-only in this process, or the
// reason it is not (then reads go over gRPC until the next check).
type vmRAM struct {
	mu      sync.RWMutex // read-held while copying, so close cannot unmap under a reader
	data    []byte       // the mapping; nil when refused or closed
	size    uint64       // len(data) as mapped, kept after close
	ranges  []sideRange  // sorted by GPA
	dev     uint64       // the file's identity, to tell a new RAM file at a recheck
	ino     uint64
	checked atomic.Int64 // when frostd was last asked (Unix ns): read without mu
	refused error        // why there is no mapping
	hw      *translate.Translator
}

// errUnmapped is a read of a closed mapping: the caller falls back.
var errUnmapped = errors.New("client: guest RAM not mapped")

// mapRAM maps f (read-only, shared: the guest's writes show at once).
func mapRAM(f *os.File, rep *sideReply) (*vmRAM, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, errors.New("client: no inode for guest RAM's file")
	}
	if rep.Size == 0 || rep.Size > uint64(st.Size()) || rep.Size > uint64(maxInt) {
		return nil, fmt.Errorf("client: frostd says RAM is %d bytes, its file holds %d", rep.Size, st.Size())
	}
	ranges, err := mapRAMRanges(rep)
	if err != nil {
		return nil, err
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(rep.Size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("client: mapping guest RAM: %w", err)
	}
	r := &vmRAM{data: data, size: rep.Size, ranges: ranges, dev: uint64(sys.Dev), ino: sys.Ino}
	// The processor's walk over the mapping. No TLB: the guest runs, and
	// its page tables change under the walk at any moment.
	r.hw, err = translate.NewHardware(translate.HardwareConfig{Physical: ramPhysical{r}, TLBEntries: -1})
	if err != nil {
		syscall.Munmap(data)
		return nil, err
	}
	return r, nil
}

const maxInt = int(^uint(0) >> 1)

// age is how long ago frostd was last asked about this VM.
func (r *vmRAM) age(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, r.checked.Load()))
}

// refusal records why a VM has no mapping, at now.
func refusal(err error, now time.Time) *vmRAM {
	r := &vmRAM{refused: err}
	r.checked.Store(now.UnixNano())
	return r
}

// mapRAMRanges checks frostd's map (every range inside the file, none
// wrapping, none overlapping) and sorts it by GPA.
func mapRAMRanges(rep *sideReply) ([]sideRange, error) {
	ranges := append([]sideRange(nil), rep.Ranges...)
	sort.Slice(ranges, func(i, j int) bool { return ranges[i].GPA < ranges[j].GPA })
	for i, r := range ranges {
		if r.Size == 0 || r.Offset+r.Size < r.Offset || r.Offset+r.Size > rep.Size || r.GPA+r.Size < r.GPA {
			return nil, fmt.Errorf("client: frostd's map has a range outside RAM: %+v", r)
		}
		if i > 0 && ranges[i-1].GPA+ranges[i-1].Size > r.GPA {
			return nil, fmt.Errorf("client: frostd's map has overlapping ranges at %#x", r.GPA)
		}
	}
	return ranges, nil
}

func (r *vmRAM) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.data == nil {
		return nil
	}
	err := syscall.Munmap(r.data)
	r.data = nil
	return err
}

// offset finds gpa's file offset and how many bytes after it are RAM in
// the same range.
func (r *vmRAM) offset(gpa uint64) (off, n uint64, ok bool) {
	rs := r.ranges
	// A PC has a handful of ranges (below 640 KiB, below the PCI hole,
	// above 4 GiB): a scan beats a search there, and every entry of a
	// page walk comes through here.
	if len(rs) <= 4 {
		for _, x := range rs {
			if gpa >= x.GPA && gpa-x.GPA < x.Size {
				d := gpa - x.GPA
				return x.Offset + d, x.Size - d, true
			}
		}
		return 0, 0, false
	}
	i := sort.Search(len(rs), func(i int) bool { return rs[i].GPA+rs[i].Size > gpa })
	if i == len(rs) || gpa < rs[i].GPA {
		return 0, 0, false
	}
	d := gpa - rs[i].GPA
	return rs[i].Offset + d, rs[i].Size - d, true
}

// copyPhys fills p from gpa, all or nothing: false when any byte is not
// in the map. The caller holds mu for reading and has checked data.
func (r *vmRAM) copyPhys(gpa uint64, p []byte) bool {
	for len(p) > 0 {
		off, n, ok := r.offset(gpa)
		if !ok {
			return false
		}
		k := copy(p[:min(uint64(len(p)), n)], r.data[off:])
		p = p[k:]
		gpa += uint64(k)
	}
	return true
}

// ramPhysical is the mapping as translate's Physical, with the EntryReader
// fast path. The caller of the walk holds mu for reading.
type ramPhysical struct{ r *vmRAM }

func (p ramPhysical) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || p.r.data == nil {
		return 0, io.ErrUnexpectedEOF
	}
	if !p.r.copyPhys(uint64(off), b) {
		return 0, fmt.Errorf("client: GPA %#x is not in guest RAM's map", off)
	}
	return len(b), nil
}

func (p ramPhysical) ReadEntry(pa uint64) (uint64, error) {
	off, n, ok := p.r.offset(pa)
	if !ok || n < 8 || p.r.data == nil {
		var b [8]byte
		if _, err := p.ReadAt(b[:], int64(pa)); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(b[:]), nil
	}
	return binary.LittleEndian.Uint64(p.r.data[off : off+8]), nil
}
