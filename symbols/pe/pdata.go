package pe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Bounds on the exception directory.
const (
	// MaxPdata bounds the exception directory: about 1.4 million
	// functions, over ten times ntoskrnl's.
	MaxPdata            = 16 << 20
	runtimeFunctionSize = 12
)

// RuntimeFunction is an x64 RUNTIME_FUNCTION: a function's code range
// [Begin, End) and the RVA of its UNWIND_INFO, all RVAs.
type RuntimeFunction struct{ Begin, End, UnwindData uint32 }

// SkippedError says how many entries of a table were left out as
// malformed. It comes with the rest of the table, which is usable.
type SkippedError struct {
	What    string
	Skipped int
	Total   int
	First   error // the first reason
}

func (e *SkippedError) Error() string {
	return fmt.Sprintf("pe: %s: %d of %d entries skipped: %v", e.What, e.Skipped, e.Total, e.First)
}

func (e *SkippedError) Unwrap() error { return e.First }

// RuntimeFunctions reads the exception directory's table of the image,
// sorted by Begin, as the loader's binary search requires.
//
// Entries with End <= Begin, a range or unwind data outside the image, or
// a range overlapping an earlier entry's are skipped: then the valid rest
// is returned together with a *SkippedError (which wraps ErrFormat). One
// corrupt entry should not blind an unwinder to every other function of
// the module, but the caller must be told that the table was not whole.
// A page of the table that cannot be read is an *UnreadableError and no
// table; an image without the directory gives an error wrapping
// ErrNoDirectory.
func (h *Headers) RuntimeFunctions(m Memory) ([]RuntimeFunction, error) {
	le := binary.LittleEndian
	d, err := h.directory(DirException, MaxPdata, "exception directory")
	if err != nil {
		return nil, err
	}
	// The loader divides the size by the entry size; so does this.
	n := d.Size / runtimeFunctionSize
	if n == 0 {
		return nil, bad("exception directory of %d bytes holds no entry", d.Size)
	}
	pages := newImagePages(m, h.Base, h.SizeOfImage)
	raw := pages.read(d.RVA, n*runtimeFunctionSize)
	if raw == nil {
		return nil, pages.unreadable("exception directory")
	}
	table := make([]RuntimeFunction, 0, n)
	var skipped *SkippedError
	skip := func(err error) {
		if skipped == nil {
			skipped = &SkippedError{What: "exception directory", Total: int(n), First: err}
		}
		skipped.Skipped++
	}
	for e := raw; len(e) >= runtimeFunctionSize; e = e[runtimeFunctionSize:] {
		f := RuntimeFunction{Begin: le.Uint32(e), End: le.Uint32(e[4:]), UnwindData: le.Uint32(e[8:])}
		switch {
		case f.End <= f.Begin:
			skip(bad("function %#x-%#x is empty", f.Begin, f.End))
		case f.End > h.SizeOfImage:
			skip(bad("function %#x-%#x ends past SizeOfImage %#x", f.Begin, f.End, h.SizeOfImage))
		// The low bit marks unwind data that is another RUNTIME_FUNCTION
		// (chained through .pdata); either way it is an RVA.
		case f.UnwindData&^1 == 0 || f.UnwindData&^1 >= h.SizeOfImage:
			skip(bad("function %#x-%#x has unwind data at RVA %#x, outside the image", f.Begin, f.End, f.UnwindData))
		default:
			table = append(table, f)
		}
	}
	sort.SliceStable(table, func(i, j int) bool { return table[i].Begin < table[j].Begin })
	// Overlapping ranges make a lookup ambiguous: keep the first.
	kept := table[:0]
	for _, f := range table {
		if len(kept) > 0 && f.Begin < kept[len(kept)-1].End {
			p := kept[len(kept)-1]
			skip(bad("function %#x-%#x overlaps %#x-%#x", f.Begin, f.End, p.Begin, p.End))
			continue
		}
		kept = append(kept, f)
	}
	if skipped != nil {
		return kept, skipped
	}
	return kept, nil
}

// FunctionAt returns the entry of table (sorted, as RuntimeFunctions
// returns it) whose range holds rva.
func FunctionAt(table []RuntimeFunction, rva uint32) (RuntimeFunction, bool) {
	i := sort.Search(len(table), func(i int) bool { return table[i].Begin > rva })
	if i == 0 || rva >= table[i-1].End {
		return RuntimeFunction{}, false
	}
	return table[i-1], true
}

// IsSkipped reports whether err only says that entries were skipped, so
// the table returned with it is usable.
func IsSkipped(err error) bool {
	var se *SkippedError
	return errors.As(err, &se)
}
