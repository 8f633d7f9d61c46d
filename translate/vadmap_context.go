package translate

import (
	"context"
	"fmt"
)

// vadMapCheckEvery is how many pages VadMapContext walks between looks at
// its context: a page costs up to a VAD search in guest memory, so a
// cancelled 16 GiB map stops within microseconds, and the look itself
// stays off the per-page cost.
const vadMapCheckEvery = 256

// VadMapContext is VadMap that stops when ctx ends: a whole 16 GiB range
// takes seconds of CPU, and its caller (an RPC) may have gone long
// before. It then returns the context's error (errors.Is Canceled or
// DeadlineExceeded), with no runs.
func (t *Translator) VadMapContext(ctx context.Context, dtb, start, end uint64) ([]Run, error) {
	pages, err := VadMapPages(start, end)
	if err != nil {
		return nil, err
	}
	gen, smear := t.state()
	w := t.newWalker(nil, gen, smear)
	var runs []Run
	va := start &^ pageMask
	for i := uint64(0); i < pages; i, va = i+1, va+pageSize {
		if i%vadMapCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("VadMap stopped at 0x%x after %d of %d pages: %w", va, i, pages, err)
			}
		}
		// va+pageSize is 0 for the last page of the address space: the
		// run then ends at 2^64.
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
