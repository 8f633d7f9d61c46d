package translate

import (
	"bytes"
	"errors"
	"testing"
)

// Issue 12 item 7: the last page of the address space. A range may end at
// 2^64; nothing wraps to VA 0.

const topPage = ^uint64(0) &^ pageMask // 0xfffffffffffff000

// topGuest maps the last page and VA 0 to different bytes, so a read that
// wrapped would show it.
func topGuest(t *testing.T) (*Translator, uint64, []byte, []byte) {
	b := newBuilder(t, testLayout(36), 0)
	dtb := b.newDTB()
	top, zero := bytes.Repeat([]byte{0xee}, pageSize), bytes.Repeat([]byte{0x11}, pageSize)
	b.mapNew(dtb, topPage, top)
	b.mapNew(dtb, 0, zero)
	return b.translator(0), dtb, top, zero
}

func TestReadVirtualUpToTheTop(t *testing.T) {
	tr, dtb, top, _ := topGuest(t)
	buf := make([]byte, 16)
	res := tr.ReadVirtual(dtb, ^uint64(0)-15, buf)
	if res.N != 16 || res.Err() != nil || !bytes.Equal(buf, top[pageSize-16:]) {
		t.Errorf("the last 16 bytes: N %d, %v, % x", res.N, res.Err(), buf)
	}
}

func TestReadVirtualNeverWraps(t *testing.T) {
	tr, dtb, top, _ := topGuest(t)
	buf := make([]byte, 32)
	res := tr.ReadVirtual(dtb, ^uint64(0)-15, buf)
	pages := res.Pages()
	if res.N != 16 || len(pages) != 2 || pages[0].Err != nil || !bytes.Equal(buf[:16], top[pageSize-16:]) {
		t.Fatalf("across the top: N %d, pages %+v", res.N, pages)
	}
	var ae *AddressError
	if !errors.As(pages[1].Err, &ae) || !bytes.Equal(buf[16:], make([]byte, 16)) {
		t.Errorf("the piece past 2^64: %v, bytes % x (VA 0's, had it wrapped, are 11)", pages[1].Err, buf[16:])
	}
	// A read of several pages past the top: every one refused.
	big := make([]byte, 3*pageSize)
	res = tr.ReadVirtual(dtb, topPage, big)
	if res.N != pageSize || len(res.Pages()) != 3 || res.Pages()[1].Err == nil || res.Pages()[2].Err == nil {
		t.Errorf("three pages from the last: N %d, pages %+v", res.N, res.Pages())
	}
}

func TestVadMapUpToTheTop(t *testing.T) {
	tr, dtb, _, _ := topGuest(t)
	for _, end := range []uint64{0, ^uint64(0), topPage + 1} {
		runs, err := tr.VadMap(dtb, topPage-pageSize, end)
		if err != nil || len(runs) != 2 {
			t.Errorf("VadMap up to %#x: %+v, %v", end, runs, err)
			continue
		}
		if r := runs[1]; r.Start != topPage || r.End != 0 || r.Location.State != StateValid {
			t.Errorf("VadMap up to %#x: the last run %v, want the valid top page ending at 0 (2^64)", end, r)
		}
	}
	var ae *AddressError
	if _, err := tr.VadMap(dtb, 0, 0); !errors.As(err, &ae) {
		t.Errorf("VadMap of all 2^64 bytes: %v, want an *AddressError", err)
	}
	if _, err := tr.VadMap(dtb, topPage, topPage); !errors.As(err, &ae) {
		t.Errorf("an empty range at the top: %v", err)
	}
}

func TestVadMapPages(t *testing.T) {
	for _, tc := range []struct {
		start, end, pages uint64
		ok                bool
	}{
		{0x1000, 0x3000, 2, true},
		{0x1001, 0x3001, 3, true},
		{topPage, 0, 1, true},
		{topPage, ^uint64(0), 1, true},
		{^uint64(0), 0, 1, true},
		{0, 0, 0, false},
		{0x2000, 0x1000, 0, false},
		{0, MaxVadMapPages * pageSize, MaxVadMapPages, true},
		{0, MaxVadMapPages*pageSize + 1, 0, false},
		{topPage - (MaxVadMapPages-1)*pageSize, 0, MaxVadMapPages, true},
		{topPage - MaxVadMapPages*pageSize, 0, 0, false},
	} {
		n, err := VadMapPages(tc.start, tc.end)
		if (err == nil) != tc.ok || n != tc.pages {
			t.Errorf("VadMapPages(%#x, %#x) = %d, %v; want %d (ok %v)", tc.start, tc.end, n, err, tc.pages, tc.ok)
		}
	}
}
