package translate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
)

// fuzzMem is physical memory made only of the fuzzer's entry values: entry
// i of frame f holds vals[(7f + i) mod n]. Every frame exists up to the
// 52-bit physical limit, so whatever PFN an entry names, the walk goes on
// into more fuzzed entries instead of stopping at missing RAM.
type fuzzMem struct{ vals []uint64 }

func (m fuzzMem) word(off uint64) uint64 {
	f, i := off>>pageShift, off&pageMask/8
	return m.vals[(f*7+i)%uint64(len(m.vals))]
}

func (m fuzzMem) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || uint64(off)+uint64(len(p)) > 1<<52 {
		return 0, io.EOF
	}
	var b [8]byte
	for n := 0; n < len(p); {
		o := uint64(off) + uint64(n)
		binary.LittleEndian.PutUint64(b[:], m.word(o&^7))
		n += copy(p[n:], b[o&7:])
	}
	return len(p), nil
}

type resolverFunc func(uint64) (MappedFile, error)

func (f resolverFunc) SubsectionFile(s uint64) (MappedFile, error) { return f(s) }

// FuzzTranslate walks page tables built from six raw entry values, with
// the swizzle on or off, either PFN width, and a VAD of either kind. It
// checks that nothing panics, every failure is a typed error, a page the
// CPU maps translates to the CPU's address, the fast path and provenance
// agree, and unswizzling undoes the guest's swizzle.
func FuzzTranslate(f *testing.F) {
	f.Add(uint64(0x2067), uint64(0x3067), uint64(0x4067), uint64(0x5067), uint64(0x6067), uint64(0x7067), uint64(0x40001234), uint64(0))
	f.Add(uint64(0x000020000891F860), uint64(0x2067), uint64(0xffffffff00000410), uint64(0xa000200000000460), uint64(0x200000000000), uint64(0x1f400000080), uint64(0x7ff600002010), uint64(1))
	f.Fuzz(func(t *testing.T, a, b, c, d, e, g, va, flags uint64) {
		vals := []uint64{a, b, c, d, e, g}
		mem := fuzzMem{vals}
		width := uint(36)
		if flags&2 != 0 {
			width = 40
		}
		l := testLayout(width)
		mask := uint64(0)
		if flags&1 != 0 {
			mask = mask46
		}
		cfg := Config{
			Layout: l, SwizzleMask: mask, Physical: mem, TLBEntries: -1,
			Pagefiles: map[uint64]Pagefile{1: {Data: mem}, 2: {Data: mem, VirtualStore: true}},
			Files: resolverFunc(func(uint64) (MappedFile, error) {
				return MappedFile{Name: `\fuzz.dll`, Data: mem}, nil
			}),
		}
		if flags&16 == 0 {
			vads := &vadList{}
			vads.add(0x1000, VAD{Start: 0, End: 1 << 47, Private: flags&4 != 0, MemCommit: flags&8 != 0,
				Protection: flags >> 8 & 31, FirstPrototypePte: 0xffff800000000000 | g&(1<<47-8)})
			cfg.VADs = vads
		}
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		const dtb = 0x1000
		loc, err := tr.Translate(dtb, va)
		if err != nil && !typedError(err) {
			t.Fatalf("untyped error %T: %v", err, err)
		}
		if canonical(va) {
			if pa, ok := refWalk(mem, width, dtb, va); ok && (err != nil || loc.State != StateValid || loc.Addr != pa) {
				t.Fatalf("the CPU maps 0x%x to 0x%x; got %+v, %v\n%s", va, pa, loc, err, tr.Vtop(dtb, va))
			}
		}
		// The caches (TLB and page-table pages) change nothing: a cold
		// and a warm translation agree with the uncached one.
		cachedCfg := cfg
		cachedCfg.TLBEntries = 0
		cached, nerr := New(cachedCfg)
		if nerr != nil {
			t.Fatal(nerr)
		}
		for range 2 {
			cl, cerr := cached.Translate(dtb, va)
			if !sameLocation(cl, loc) || fmt.Sprint(cerr) != fmt.Sprint(err) {
				t.Fatalf("cached %+v %v; uncached %+v %v", cl, cerr, loc, err)
			}
		}
		p := tr.Vtop(dtb, va)
		if !sameLocation(p.Location, loc) || (p.Err == nil) != (err == nil) {
			t.Fatalf("vtop %+v %v; translate %+v %v", p.Location, p.Err, loc, err)
		}
		_ = p.String()

		buf := make([]byte, pageSize+16)
		res := tr.ReadVirtual(dtb, va, buf)
		total := 0
		for _, pr := range res.Pages() {
			total += pr.Len
			if pr.Err != nil && !typedError(pr.Err) && !isNoBytes(pr.Err) {
				t.Fatalf("page 0x%x: unexpected error %T %v", pr.VA, pr.Err, pr.Err)
			}
		}
		if total != len(buf) || res.N > len(buf) {
			t.Fatalf("pieces cover %d bytes, served %d, of %d", total, res.N, len(buf))
		}
		if _, err := tr.VadMap(dtb, va, va+3*pageSize); err != nil {
			var ae *AddressError
			if !errors.As(err, &ae) {
				t.Fatal(err)
			}
		}

		// The guest's swizzle, undone.
		dec := newDecoder(l, mask46)
		sw := newBuilder(t, l, mask46)
		for _, v := range vals {
			if v&1 != 0 || v&0x10 != 0 {
				continue
			}
			// SwizzleBit stays in a value that kept the mask bits; no
			// field decoding reads it.
			if got, _ := dec.unswizzle(sw.swizzle(v)); got&^0x10 != v {
				t.Fatalf("unswizzle(swizzle(0x%x)) = 0x%x", v, got)
			}
			if dec.decode(sw.swizzle(v), false).kind != newDecoder(l, 0).decodeKind(v) {
				t.Fatalf("0x%x decodes differently swizzled", v)
			}
		}
	})
}

// decodeKind is decode(...).kind, for a decoder value.
func (d decoder) decodeKind(v uint64) Kind { return d.decode(v, false).kind }

// isNoBytes: the page's state has no bytes, or its store was not supplied.
func isNoBytes(err error) bool {
	for _, e := range []error{ErrNotMapped, ErrReserved, ErrDecommitted, ErrCompressed, ErrPagefileNotSupplied, ErrFileNotSupplied} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
