package breakpoints

import (
	"context"
	"fmt"
)

// cr3Mask keeps CR3's page-directory frame: bits 0–11 are the PCID (or
// PWT/PCD), and bit 63 is the "no flush" hint of a MOV to CR3 that the
// register never keeps but a saved DTB may carry.
const cr3Mask = ^uint64(0xfff | 1<<63)

// AddressSpace is a process's page tables as Windows records them: with
// KVA shadowing a process has a kernel and a user DirectoryTableBase, and
// CR3 holds either depending on the mode the CPU runs in.
type AddressSpace struct {
	DirectoryTableBase     uint64
	UserDirectoryTableBase uint64 // 0 when the process has none
}

// matches compares cr3 with both tables, PCID and flush bits masked.
func (a AddressSpace) matches(cr3 uint64) bool {
	c := cr3 & cr3Mask
	if a.DirectoryTableBase&cr3Mask == c {
		return true
	}
	return a.UserDirectoryTableBase != 0 && a.UserDirectoryTableBase&cr3Mask == c
}

// TranslateFunc turns va into a guest-physical address through the page
// tables at cr3, as the translate package does; breakpoints takes it as a
// function so it does not depend on that package.
type TranslateFunc func(ctx context.Context, cr3, va uint64) (uint64, error)

// PhysicalFilter accepts a hit only where the breakpoint's VA maps, at the
// hit and through the hit's CR3, to Addr. This is how a breakpoint on
// physical code shared by several address spaces is expressed.
type PhysicalFilter struct {
	Addr      uint64
	Translate TranslateFunc
}

// ThreadPredicate decides whether the guest thread running at a hit is
// wanted. nt implements it (KPCR → Prcb.CurrentThread); breakpoints does not
// know Windows' structures.
type ThreadPredicate interface {
	MatchThread(ctx context.Context, h *Hit) (bool, error)
}

// ProcessPredicate decides whether the process (EPROCESS) at a hit is
// wanted. nt implements it.
type ProcessPredicate interface {
	MatchProcess(ctx context.Context, h *Hit) (bool, error)
}

// ThreadResolver names the guest thread running at a hit (its KTHREAD
// address). The manager uses it to tie a break-on-return to its call and a
// suppressed re-hit to its first hit; nt implements it.
type ThreadResolver interface {
	CurrentThread(ctx context.Context, h *Hit) (uint64, error)
}

// Filter narrows a slot's hits down to the ones an observer wants. Every
// set field must accept the hit. They are checked cheapest first: CR3,
// then the predicates, then the physical address.
type Filter struct {
	AddressSpaces []AddressSpace // any of them; empty means any CR3
	Thread        ThreadPredicate
	Process       ProcessPredicate
	Physical      *PhysicalFilter
}

// FilterError says which part of a filter could not decide; the hit then
// counts as not matching.
type FilterError struct {
	Part string // "thread", "process" or "physical"
	Err  error
}

func (e *FilterError) Error() string {
	return fmt.Sprintf("breakpoints: %s filter: %v", e.Part, e.Err)
}

func (e *FilterError) Unwrap() error { return e.Err }

// match applies f to h. A predicate that fails is an error and no match:
// an undecidable hit is not delivered rather than delivered wrongly.
func (f *Filter) match(ctx context.Context, h *Hit) (bool, error) {
	if len(f.AddressSpaces) > 0 {
		ok := false
		for _, as := range f.AddressSpaces {
			if as.matches(h.CR3) {
				ok = true
				break
			}
		}
		if !ok {
			return false, nil
		}
	}
	if f.Thread != nil {
		ok, err := f.Thread.MatchThread(ctx, h)
		if err != nil {
			return false, &FilterError{Part: "thread", Err: err}
		}
		if !ok {
			return false, nil
		}
	}
	if f.Process != nil {
		ok, err := f.Process.MatchProcess(ctx, h)
		if err != nil {
			return false, &FilterError{Part: "process", Err: err}
		}
		if !ok {
			return false, nil
		}
	}
	if p := f.Physical; p != nil {
		if p.Translate == nil {
			return false, &FilterError{Part: "physical", Err: ErrNoTranslator}
		}
		pa, err := p.Translate(ctx, h.CR3, h.Addr)
		if err != nil {
			return false, &FilterError{Part: "physical", Err: err}
		}
		if pa != p.Addr {
			return false, nil
		}
	}
	return true, nil
}
