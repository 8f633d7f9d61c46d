package session

import (
	"context"

	"github.com/frostvmi/frost/translate"
)

// Writes go through QEMU (the target's WritePhysical: the gdbstub, guest
// stopped), so TCG's translated code and dirty tracking see them. A write
// may change page tables Frost has walked: every write ends by telling the
// translator that nothing it cached may be trusted.

// WritePhysical writes data at guest-physical gpa.
func (s *Session) WritePhysical(ctx context.Context, gpa uint64, data []byte) error {
	err := s.Target.WritePhysical(ctx, gpa, data)
	s.Written()
	return err
}

// WrittenPage is what WriteVirtual did with one page's piece of the data.
type WrittenPage struct {
	VA     uint64
	Offset int // into the data
	Len    int
	Loc    translate.Location
	// Err is why the page could not be translated; nil with Written false
	// means it translated somewhere other than RAM (a paging file, a file,
	// demand-zero), which a write cannot reach.
	Err     error
	Written bool
}

const pageSize = 4096

// WriteVirtual writes data at va in the address space dtb, page by page,
// through the kernel's translator: pages in RAM (valid or transition) are
// written; the rest are reported and skipped. An error from the target
// stops it (the pages written so far stay written, and are reported).
func (s *Session) WriteVirtual(ctx context.Context, tr *translate.Translator, dtb, va uint64, data []byte) ([]WrittenPage, error) {
	var out []WrittenPage
	wrote := false
	defer func() {
		if wrote {
			s.Written()
		}
	}()
	for off := 0; off < len(data); {
		at := va + uint64(off)
		n := min(pageSize-int(at%pageSize), len(data)-off)
		loc, err := tr.Translate(dtb, at)
		p := WrittenPage{VA: at, Offset: off, Len: n, Loc: loc, Err: err}
		if err == nil && (loc.State == translate.StateValid || loc.State == translate.StateTransition) {
			if werr := s.Target.WritePhysical(ctx, loc.Addr, data[off:off+n]); werr != nil {
				return out, werr
			}
			p.Written, wrote = true, true
		}
		out = append(out, p)
		off += n
	}
	return out, nil
}
