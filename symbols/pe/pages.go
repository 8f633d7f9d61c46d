package pe

import (
	"fmt"
	"sort"
)

// imagePages reads an image's pages on demand, each at most once, and
// remembers the ones that failed. Strings in an image (export names,
// forwarders) are scattered and NUL-terminated: reading them page by page
// bounds each read by what the image holds, not by what a length claims.
type imagePages struct {
	m     Memory
	base  uint64
	size  uint32            // SizeOfImage
	pages map[uint64][]byte // by page address; the part inside the image
	bad   map[uint64]error
}

func newImagePages(m Memory, base uint64, size uint32) *imagePages {
	return &imagePages{m: m, base: base, size: size, pages: map[uint64][]byte{}, bad: map[uint64]error{}}
}

// page returns the bytes of the page holding rva, from rva's page offset
// to the page's (or the image's) end, or nil if the page is unreadable.
func (p *imagePages) page(rva uint32) (b []byte, pageAddr uint64) {
	addr := p.base + uint64(rva)
	pageAddr = addr &^ (PageSize - 1)
	if _, failed := p.bad[pageAddr]; failed {
		return nil, pageAddr
	}
	data, ok := p.pages[pageAddr]
	if !ok {
		start := max(pageAddr, p.base)
		end := min(pageAddr+PageSize, p.base+uint64(p.size))
		data = make([]byte, end-start)
		n, err := p.m.ReadAt(data, start)
		if err == nil && n != len(data) {
			err = fmt.Errorf("short read: %d of %d bytes", n, len(data))
		}
		if err != nil {
			p.bad[pageAddr] = err
			return nil, pageAddr
		}
		p.pages[pageAddr] = data
	}
	return data[addr-max(pageAddr, p.base):], pageAddr
}

// read returns the n bytes at rva, which the caller has checked lie in
// the image, or nil if a page of them is unreadable; every unreadable
// page is recorded, not just the first.
func (p *imagePages) read(rva, n uint32) []byte {
	// Grow with what is read: a table the guest claims is 16 MiB but
	// whose pages are absent costs nothing.
	out := make([]byte, 0, min(n, 1<<16))
	ok := true
	for at := uint64(rva); at < uint64(rva)+uint64(n); {
		b, pageAddr := p.page(uint32(at))
		if b == nil {
			ok = false
			at = pageAddr + PageSize - p.base
			continue
		}
		b = b[:min(uint64(len(b)), uint64(rva)+uint64(n)-at)]
		out = append(out, b...)
		at += uint64(len(b))
	}
	if !ok {
		return nil
	}
	return out
}

// cString reads the NUL-terminated string at rva, of at most limit bytes.
// A string in an unreadable page returns unreadable set and no error.
func (p *imagePages) cString(rva uint32, limit int, what string) (s string, unreadable bool, err error) {
	var out []byte
	for at := uint64(rva); ; {
		if at >= uint64(p.size) {
			return "", false, bad("%s at RVA %#x runs past SizeOfImage %#x", what, rva, p.size)
		}
		b, _ := p.page(uint32(at))
		if b == nil {
			return "", true, nil
		}
		for i, c := range b {
			if c == 0 {
				return string(append(out, b[:i]...)), false, nil
			}
			if len(out)+i >= limit {
				return "", false, bad("%s at RVA %#x is longer than %d bytes", what, rva, limit)
			}
		}
		out = append(out, b...)
		at += uint64(len(b))
	}
}

// unreadable returns the pages that failed, as an *UnreadableError, or nil.
func (p *imagePages) unreadable(what string) *UnreadableError {
	if len(p.bad) == 0 {
		return nil
	}
	ue := &UnreadableError{What: what}
	for a := range p.bad {
		ue.Pages = append(ue.Pages, a)
	}
	sort.Slice(ue.Pages, func(i, j int) bool { return ue.Pages[i] < ue.Pages[j] })
	ue.Err = p.bad[ue.Pages[0]]
	return ue
}
