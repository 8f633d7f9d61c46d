package physmem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
)

const pageSize = 4096

// Verification parameters. A wrong mapping almost never holds the same
// non-zero page at the same offset, so a few pages decide; zero pages
// prove nothing, since any untouched memory is zero.
const (
	probePages    = 256 // pages probed evenly across RAM for non-zero content
	headPages     = 256 // and the first pages of RAM, where kernels load
	maxSamples    = 8   // non-zero pages compared with the reference
	minMatches    = 3   // matches needed (fewer if RAM has fewer non-zero pages)
	compareTries  = 3   // attempts per page while the guest changes it
	maxCandidates = 16
)

// candidate is a host address at which a mapping might hold the RAM
// block: its start or, for a larger mapping, its end less the block.
type candidate struct {
	m    mapping
	base uint64
}

func (c candidate) String() string {
	if c.base == c.m.start {
		return c.m.String()
	}
	return fmt.Sprintf("%s (from %#x)", c.m, c.base)
}

// candidates lists where the RAM block may be, the closest sizes first:
// QEMU maps a RAM block on its own, between guard pages, so the right
// mapping is usually exactly the block's size.
func candidates(maps []mapping, size uint64) []candidate {
	var out []candidate
	for _, m := range maps {
		if !m.readable() || m.size() < size {
			continue
		}
		out = append(out, candidate{m, m.start})
		if m.size() > size {
			out = append(out, candidate{m, m.end - size})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].m.size() < out[j].m.size() })
	if len(out) > maxCandidates {
		out = out[:maxCandidates]
	}
	return out
}

// sample is one page (or the tail of a range shorter than a page).
type sample struct {
	gpa, off uint64
	n        int
}

var zeroPage [pageSize]byte

// pickSamples finds up to maxSamples non-zero pages of guest RAM as src
// sees it, spread over RAM.
func pickSamples(ctx context.Context, gm *Map, src source) ([]sample, error) {
	ranges := gm.Ranges()
	var total uint64
	for _, r := range ranges {
		total += (r.Size + pageSize - 1) / pageSize
	}
	seen := map[uint64]bool{}
	var idx []uint64
	add := func(i uint64) {
		if i < total && !seen[i] {
			seen[i] = true
			idx = append(idx, i)
		}
	}
	for i := uint64(0); i < headPages; i++ {
		add(i)
	}
	for i := uint64(0); i < probePages; i++ {
		add(i * total / probePages)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })

	var found []sample
	buf := make([]byte, pageSize)
	ri, base := 0, uint64(0) // range of idx and its first page index
	for _, i := range idx {
		for i >= base+(ranges[ri].Size+pageSize-1)/pageSize {
			base += (ranges[ri].Size + pageSize - 1) / pageSize
			ri++
		}
		r := ranges[ri]
		d := (i - base) * pageSize
		s := sample{gpa: r.GPA + d, off: r.Offset + d, n: int(min(pageSize, r.Size-d))}
		if err := src.read(ctx, buf[:s.n], s.gpa, s.off); err != nil {
			return nil, err
		}
		if !bytes.Equal(buf[:s.n], zeroPage[:s.n]) {
			found = append(found, s)
		}
	}
	if len(found) > maxSamples {
		spread := make([]sample, maxSamples)
		for j := range spread {
			spread[j] = found[j*len(found)/maxSamples]
		}
		found = spread
	}
	return found, nil
}

var errAllZero = errors.New("every probed page is zero here, so nothing can be compared (has the guest run yet?)")

// verify checks that src holds the RAM block, by comparing non-zero pages
// with ref. The guest may be running, so a page may change between the
// two reads: a page counts as different only if the reference reads the
// same bytes twice around the candidate's read and the candidate differs.
func verify(ctx context.Context, gm *Map, src source, ref Reference) error {
	samples, err := pickSamples(ctx, gm, src)
	if err != nil {
		return err
	}
	if len(samples) == 0 {
		return errAllZero
	}
	r1 := make([]byte, pageSize)
	r2 := make([]byte, pageSize)
	c := make([]byte, pageSize)
	matched := 0
	for _, s := range samples {
		ok, err := comparePage(ctx, s, src, ref, r1[:s.n], r2[:s.n], c[:s.n])
		if err != nil {
			return err
		}
		if ok {
			matched++
		}
	}
	if need := min(minMatches, len(samples)); matched < need {
		return fmt.Errorf("only %d of %d sampled pages stayed still long enough to compare", matched, len(samples))
	}
	return nil
}

// comparePage reports whether src and ref agree on page s (false: the
// page never held still); a stable disagreement is an error.
func comparePage(ctx context.Context, s sample, src source, ref Reference, r1, r2, c []byte) (bool, error) {
	for try := 0; try < compareTries; try++ {
		if err := ref.ReadPhysical(ctx, s.gpa, r1); err != nil {
			return false, fmt.Errorf("reference read of GPA %#x: %w", s.gpa, err)
		}
		if err := src.read(ctx, c, s.gpa, s.off); err != nil {
			return false, err
		}
		if bytes.Equal(c, r1) {
			return true, nil
		}
		if err := ref.ReadPhysical(ctx, s.gpa, r2); err != nil {
			return false, fmt.Errorf("reference read of GPA %#x: %w", s.gpa, err)
		}
		if bytes.Equal(c, r2) {
			return true, nil
		}
		if bytes.Equal(r1, r2) {
			return false, fmt.Errorf("page at GPA %#x differs from the reference", s.gpa)
		}
	}
	return false, nil
}
