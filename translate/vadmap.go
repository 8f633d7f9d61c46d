package translate

import (
	"context"
	"fmt"
)

// Run is a stretch of pages in the same state whose locations follow each
// other: one line of Rekall's vadmap.
type Run struct {
	Start, End uint64   // [Start, End); End 0 stands for 2^64 (a run up to the top)
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
// like Rekall's vadmap. end 0 stands for 2^64, and an end in the last page
// rounds up to it, so the top page of the address space can be asked for.
// It errs only on a range it will not walk; pages it cannot translate
// become runs with Err set.
func (t *Translator) VadMap(dtb, start, end uint64) ([]Run, error) {
	return t.VadMapContext(context.Background(), dtb, start, end)
}

// VadMapPages is how many pages VadMap walks for [start, end) (end 0 for
// 2^64), or the *AddressError it fails with: an empty range, or one of
// more than MaxVadMapPages pages.
func VadMapPages(start, end uint64) (uint64, error) {
	first := start >> pageShift
	last := uint64(1)<<(64-pageShift) - 1 // the top page, for end 0
	if end != 0 {
		if end <= start {
			return 0, &AddressError{VA: start, Reason: fmt.Sprintf("empty range up to 0x%x", end)}
		}
		last = (end - 1) >> pageShift
	}
	// last-first+1 cannot overflow: both are page numbers, below 2^52.
	if pages := last - first + 1; pages <= MaxVadMapPages {
		return pages, nil
	}
	return 0, &AddressError{VA: start, Reason: fmt.Sprintf("range of %d pages is more than %d", last-first+1, MaxVadMapPages)}
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
