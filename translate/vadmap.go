package translate

import "fmt"

// Run is a stretch of pages in the same state whose locations follow each
// other: one line of Rekall's vadmap.
type Run struct {
	Start, End uint64   // [Start, End)
	Location   Location // of Start
	Err        error    // why the run's pages could not be translated
	errText    string   // Err.Error(), kept for coalescing
}

func (r Run) String() string {
	if r.Err != nil {
		return fmt.Sprintf("0x%012x-0x%012x Unknown: %v", r.Start, r.End, r.Err)
	}
	return fmt.Sprintf("0x%012x-0x%012x %s", r.Start, r.End, r.Location)
}

// MaxVadMapPages bounds one VadMap call (16 GiB of address space): every
// page is walked, and the caller asks per VAD, not for the whole space.
const MaxVadMapPages = 1 << 22

// VadMap reports the state of every page in [start, end) as coalesced runs,
// like Rekall's vadmap. It errs only on a range it will not walk; pages it
// cannot translate become runs with Err set.
func (t *Translator) VadMap(dtb, start, end uint64) ([]Run, error) {
	start &^= pageMask
	if end&pageMask != 0 {
		end = end&^uint64(pageMask) + pageSize
	}
	if end <= start {
		return nil, &AddressError{VA: start, Reason: fmt.Sprintf("empty range up to 0x%x", end)}
	}
	if (end-start)>>pageShift > MaxVadMapPages {
		return nil, &AddressError{VA: start, Reason: fmt.Sprintf("range of 0x%x bytes is more than %d pages", end-start, MaxVadMapPages)}
	}
	gen, smear := t.state()
	w := t.newWalker(nil, gen, smear)
	var runs []Run
	for va := start; va < end; va += pageSize {
		loc, err := w.translate(dtb, va)
		if n := len(runs); n > 0 && continues(&runs[n-1], va, loc, err) {
			runs[n-1].End = va + pageSize
			continue
		}
		r := Run{Start: va, End: va + pageSize, Location: loc, Err: err}
		if err != nil {
			r.errText = err.Error()
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// continues says whether the page at va extends run r.
func continues(r *Run, va uint64, loc Location, err error) bool {
	if (r.Err != nil) != (err != nil) {
		return false
	}
	if err != nil {
		return r.errText == err.Error()
	}
	a := r.Location
	if a.State != loc.State || a.Pagefile != loc.Pagefile || a.Protection != loc.Protection {
		return false
	}
	if (a.File == nil) != (loc.File == nil) || a.File != nil && !sameFile(a.File, loc.File) {
		return false
	}
	switch loc.State {
	case StateValid, StateTransition, StatePagefile, StateCompressed, StateFile:
		return loc.Addr == a.Addr+(va-r.Start)
	}
	return true
}

// sameFile compares by name; with no name, only the same subsection is
// known to be the same file.
func sameFile(a, b *FileLocation) bool {
	if a.Name != "" || b.Name != "" {
		return a.Name == b.Name
	}
	return a.Subsection == b.Subsection
}
