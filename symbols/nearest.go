package symbols

import (
	"fmt"
	"sort"
)

// Nearest implements Symbols. Of several symbols at one address, the first
// by name wins, so the answer is stable.
func (t *Table) Nearest(rva uint64) (string, uint64, error) {
	// Past the image the last symbol would name every address up to the
	// end of the address space.
	if end := t.data.ImageSize; end != 0 && rva >= end {
		return "", 0, &LookupError{Err: ErrSymbolNotFound, Query: fmt.Sprintf("%#x", rva),
			Reason: fmt.Sprintf("past the end of the image (%#x bytes): no module of this table holds it", end), Table: t.data.ID}
	}
	i := sort.Search(len(t.byAddr), func(i int) bool { return t.byAddr[i].addr > rva }) - 1
	if i < 0 {
		return "", 0, &LookupError{Err: ErrSymbolNotFound, Query: fmt.Sprintf("%#x", rva), Reason: "no symbol at or below this RVA", Table: t.data.ID}
	}
	for i > 0 && t.byAddr[i-1].addr == t.byAddr[i].addr {
		i--
	}
	return t.byAddr[i].name, rva - t.byAddr[i].addr, nil
}

// Describe names rva in module as a debugger would: "nt!NtWriteFile",
// "nt!NtWriteFile+0x1c", or "nt+0x1234" when no symbol precedes it.
func Describe(module string, s Symbols, rva uint64) string {
	name, off, err := s.Nearest(rva)
	switch {
	case err != nil:
		return fmt.Sprintf("%s+%#x", module, rva)
	case off == 0:
		return module + "!" + name
	default:
		return fmt.Sprintf("%s!%s+%#x", module, name, off)
	}
}
