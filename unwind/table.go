package unwind

import (
	"fmt"
	"sort"
)

// Table is the RUNTIME_FUNCTION table of one image, sorted for binary
// search. It implements Functions for addresses of that image.
// Composition over several images (a process's modules, the kernel's) is
// left to the caller, who knows each image's extent: an address in no
// image should be an error from its Functions, not ok=false, so that the
// leaf rule is not applied to code nobody can vouch for.
type Table struct {
	base uint64
	fns  []Function
}

// NewTable sorts fns (taken from an image's exception directory) into a
// table for the image at imageBase; each entry's ImageBase is set to it.
// An empty entry (Begin >= End) or two that overlap make the table
// ambiguous: an error, since a lookup could otherwise pick either.
func NewTable(imageBase uint64, fns []Function) (*Table, error) {
	t := &Table{base: imageBase, fns: make([]Function, len(fns))}
	copy(t.fns, fns)
	for i := range t.fns {
		t.fns[i].ImageBase = imageBase
		if f := t.fns[i]; f.Begin >= f.End {
			return nil, fmt.Errorf("unwind: RUNTIME_FUNCTION %d of the image at %#x is empty: [%#x, %#x)", i, imageBase, f.Begin, f.End)
		}
	}
	sort.Slice(t.fns, func(i, j int) bool { return t.fns[i].Begin < t.fns[j].Begin })
	for i := 1; i < len(t.fns); i++ {
		if a, b := t.fns[i-1], t.fns[i]; b.Begin < a.End {
			return nil, fmt.Errorf("unwind: RUNTIME_FUNCTIONs [%#x, %#x) and [%#x, %#x) of the image at %#x overlap",
				a.Begin, a.End, b.Begin, b.End, imageBase)
		}
	}
	return t, nil
}

// ImageBase is the base the table's RVAs are relative to.
func (t *Table) ImageBase() uint64 { return t.base }

// Len is the number of functions.
func (t *Table) Len() int { return len(t.fns) }

// FunctionAt finds the function covering addr; ok=false if none does.
func (t *Table) FunctionAt(addr uint64) (Function, bool, error) {
	if addr < t.base || addr-t.base > 0xffffffff {
		return Function{}, false, nil
	}
	rva := uint32(addr - t.base)
	// The first function ending past rva is the only candidate.
	i := sort.Search(len(t.fns), func(i int) bool { return t.fns[i].End > rva })
	if i < len(t.fns) && t.fns[i].Begin <= rva {
		return t.fns[i], true, nil
	}
	return Function{}, false, nil
}
