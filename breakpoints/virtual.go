package breakpoints

import (
	"context"
	"fmt"
)

const pageSize = 4096

// eachPage translates [va, va+n) through cr3 a page at a time and calls fn
// with each piece's physical address, its offset in the range and its
// length.
func (m *Manager) eachPage(ctx context.Context, cr3, va uint64, n int, fn func(pa uint64, off, n int) error) error {
	if m.opts.Translate == nil {
		return ErrNoTranslator
	}
	for off := 0; off < n; {
		cur := va + uint64(off)
		chunk := min(n-off, int(pageSize-cur%pageSize))
		pa, err := m.opts.Translate(ctx, cr3, cur)
		if err != nil {
			return fmt.Errorf("breakpoints: translating %#x (cr3 %#x): %w", cur, cr3, err)
		}
		if err := fn(pa, off, chunk); err != nil {
			return err
		}
		off += chunk
	}
	return nil
}
