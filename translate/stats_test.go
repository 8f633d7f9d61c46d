package translate

import "testing"

// rowStates is the PageState each decoding row's page is counted under.
// A row missing here fails the test, so a new state gets a count.
var rowStates = map[string]PageState{
	"valid 4K":                                   PageValid4K,
	"valid 2M":                                   PageValid2M,
	"valid 1G":                                   PageValid1G,
	"transition":                                 PageTransition,
	"transition, PFN with the mask bit":          PageTransition,
	"pagefile, supplied":                         PagePagefile,
	"pagefile, offset with the mask bit":         PagePagefile,
	"pagefile, not supplied":                     PagePagefile,
	"compressed store":                           PageCompressed,
	"demand-zero":                                PageDemandZero,
	"decommitted":                                PageDecommitted,
	"prototype -> valid":                         PagePrototype,
	"prototype -> transition":                    PagePrototype,
	"prototype -> pagefile":                      PagePrototype,
	"prototype -> demand-zero":                   PagePrototype,
	"prototype -> decommitted":                   PagePrototype,
	"prototype -> subsection":                    PageFile,
	"prototype -> subsection, file not supplied": PageFile,
	"VAD-prototype":                              PageVADPrototype,
	"zero PTE in a mapped view":                  PageVADPrototype,
	"zero PTE, committed private VAD":            PageDemandZero,
	"zero PDE, committed private VAD":            PageDemandZero,
	"zero PTE, reserved private VAD":             PageReserved,
	"zero PTE outside any VAD":                   PageNotMapped,
	"zero PTE at a kernel VA":                    PageNotMapped,
}

// TestStatsByPageState reads each row's page twice while the guest is
// stopped: the first read misses the TLB and the second hits it, and both
// count the page under the row's state (a hit keeps how the walk reached
// the page). Pages only in their file are never cached, so both miss.
func TestStatsByPageState(t *testing.T) {
	for _, r := range rows() {
		t.Run(r.name, func(t *testing.T) {
			want, ok := rowStates[r.name]
			if !ok {
				t.Fatalf("row %q has no expected PageState in rowStates", r.name)
			}
			g := newGuest(t, 36, mask46)
			r.setup(g)
			tr := g.b.translator(mask46)
			buf := make([]byte, pageSize)
			tr.ReadVirtual(g.dtb, g.va, buf)
			tr.ReadVirtual(g.dtb, g.va, buf)
			s := tr.Stats()
			if s.Pages[want] != 2 || sum(s.Pages[:]) != 2 {
				t.Errorf("pages = %v, want 2 under %s and none elsewhere", named(s.Pages), want)
			}
			wantHits, wantMisses := uint64(1), uint64(1)
			if want == PageFile {
				wantHits, wantMisses = 0, 2
			}
			if s.TLBHits != wantHits || s.TLBMisses != wantMisses {
				t.Errorf("TLB hits %d, misses %d; want %d, %d", s.TLBHits, s.TLBMisses, wantHits, wantMisses)
			}
		})
	}
}

// TestStatsMultiPage reads mixedGuest's eight pages in one call, twice:
// each page is counted under its own state, the first call's lookups miss
// and the second's hit; then the walk caches' lookups are as the walks
// made them.
func TestStatsMultiPage(t *testing.T) {
	g, _ := mixedGuest(t)
	tr := g.b.translator(mask46)
	buf := make([]byte, 8*pageSize)
	tr.ReadVirtual(g.dtb, userVA, buf)
	s := tr.Stats()
	want := map[PageState]uint64{PageValid4K: 2, PageTransition: 1, PagePagefile: 2, PageDemandZero: 1, PageDecommitted: 1, PageReserved: 1}
	for st := range NumPageStates {
		if s.Pages[st] != want[st] {
			t.Errorf("%s: %d pages, want %d (all: %v)", st, s.Pages[st], want[st], named(s.Pages))
		}
	}
	if s.TLBHits != 0 || s.TLBMisses != 8 {
		t.Errorf("first read: TLB hits %d, misses %d; want 0, 8", s.TLBHits, s.TLBMisses)
	}
	// Eight pages of one page table: the first walk misses the PDE cache
	// and reads all four tables into the page-table cache; the other seven
	// find the page table in the PDE cache and its entry in the cache.
	if s.PDEMisses != 1 || s.PDEHits != 7 || s.TableMisses != 4 || s.TableHits != 7 {
		t.Errorf("walk caches: PDE %d hits %d misses, tables %d hits %d misses; want 7, 1, 7, 4",
			s.PDEHits, s.PDEMisses, s.TableHits, s.TableMisses)
	}
	tr.ReadVirtual(g.dtb, userVA, buf)
	s2 := tr.Stats()
	if s2.TLBHits != 8 || s2.TLBMisses != 8 || sum(s2.Pages[:]) != 16 {
		t.Errorf("second read: TLB hits %d, misses %d, pages %d; want 8, 8, 16", s2.TLBHits, s2.TLBMisses, sum(s2.Pages[:]))
	}
	if s2.PDEHits+s2.PDEMisses+s2.TableHits+s2.TableMisses != s.PDEHits+s.PDEMisses+s.TableHits+s.TableMisses {
		t.Errorf("TLB hits walked: walk-cache lookups went from %+v to %+v", s, s2)
	}
}

// TestStatsRunningGuest: while the guest runs, reads bypass the TLB, so
// pages are counted and lookups are not.
func TestStatsRunningGuest(t *testing.T) {
	g := newGuest(t, 36, mask46)
	g.b.mapPage(g.dtb, g.va, g.dataPage(0))
	tr := g.b.translator(mask46)
	tr.Resumed()
	tr.ReadVirtual(g.dtb, g.va, make([]byte, 16))
	s := tr.Stats()
	if s.Pages[PageValid4K] != 1 || s.TLBHits+s.TLBMisses != 0 || s.PDEHits+s.PDEMisses+s.TableHits+s.TableMisses != 0 {
		t.Errorf("running guest: %+v; want one valid_4k page and no lookups", s)
	}
}

// TestStatsErrors counts failed translations by the error's kind.
func TestStatsErrors(t *testing.T) {
	g := newGuest(t, 36, mask46)
	b := g.b
	// An entry no state explains: a prototype pointer in a PDE.
	entryVA := userVA + 1<<21
	b.setInvalid(g.dtb, entryVA, LevelPDE, b.protoPointer(g.pool))
	// A read translation needs and cannot do: the lookup-needed marker
	// with no VAD resolver.
	readVA := userVA
	b.setInvalid(g.dtb, readVA, LevelPTE, b.vadMarker())
	tr := b.translator(mask46, func(c *Config) { c.VADs = nil })
	buf := make([]byte, 8)
	tr.ReadVirtual(g.dtb, entryVA, buf)
	tr.ReadVirtual(g.dtb, readVA, buf)
	tr.ReadVirtual(g.dtb, 0x0000_8000_0000_0000, buf) // not canonical
	// Past 2^64: the last page of the address space (not mapped), then a
	// piece that would wrap, which makes no lookup.
	tr.ReadVirtual(g.dtb, ^uint64(0)-3, buf)
	s := tr.Stats()
	want := map[PageState]uint64{PageErrEntry: 1, PageErrRead: 1, PageErrAddress: 2, PageNotMapped: 1}
	for st := range NumPageStates {
		if s.Pages[st] != want[st] {
			t.Errorf("%s: %d pages, want %d (all: %v)", st, s.Pages[st], want[st], named(s.Pages))
		}
	}
	if s.TLBMisses != 4 || s.TLBHits != 0 {
		t.Errorf("TLB hits %d, misses %d; want 0, 4 (the wrapped piece makes no lookup)", s.TLBHits, s.TLBMisses)
	}
}

// TestPageStateNames: every state has a distinct label.
func TestPageStateNames(t *testing.T) {
	seen := map[string]bool{}
	for st := range NumPageStates {
		n := st.String()
		if n == "" || n == "unknown" || seen[n] {
			t.Errorf("PageState %d: label %q empty or repeated", st, n)
		}
		seen[n] = true
	}
	if NumPageStates.String() != "unknown" {
		t.Errorf("out of range: %q", NumPageStates.String())
	}
}

func sum(v []uint64) (n uint64) {
	for _, x := range v {
		n += x
	}
	return n
}

func named(pages [NumPageStates]uint64) map[string]uint64 {
	m := map[string]uint64{}
	for st, n := range pages {
		if n != 0 {
			m[PageState(st).String()] = n
		}
	}
	return m
}

// BenchmarkStatsPerCall is what counting adds to a one-page ReadVirtual
// that hits the TLB: classify the slot's meta word, tally it, add the run
// once. It is the whole of the change on that path, measured alone,
// because on a loaded machine the read's own benchmark varies by more.
func BenchmarkStatsPerCall(b *testing.B) {
	var c counters
	meta := uint64(StateValid) | sizeCode(pageSize)<<8 | metaFilled
	for b.Loop() {
		var tally pageTally
		tally.add(&c, pageIndex(metaState(meta), lookupHit))
		tally.flush(&c)
	}
	if c.pages[pageIndex(PageValid4K, lookupHit)].Load() == 0 {
		b.Fatal("nothing counted")
	}
}
