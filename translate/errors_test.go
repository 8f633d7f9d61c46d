package translate

import (
	"errors"
	"strings"
	"testing"
)

// Guest memory is untrusted: every entry below is something no Windows
// state explains, and each must give a typed error, never a panic or bytes.

func TestBadEntries(t *testing.T) {
	cases := []struct {
		name  string
		setup func(g *guest) *Translator
		check func(err error) bool
	}{
		{"non-canonical VA", func(g *guest) *Translator {
			g.va = 0x0000900000000000
			return g.b.translator(mask46)
		}, func(err error) bool { var e *AddressError; return errors.As(err, &e) }},
		{"PS in a PML4E", func(g *guest) *Translator {
			g.b.set(g.dtb, g.va, LevelPML4E, g.b.large(0x200))
			return g.b.translator(mask46)
		}, func(err error) bool { var e *EntryError; return errors.As(err, &e) }},
		{"page table past RAM", func(g *guest) *Translator {
			g.b.set(g.dtb, g.va, LevelPDE, g.b.valid(0xFFFFFF))
			return g.b.translator(mask46)
		}, func(err error) bool {
			var e *ReadError
			return errors.As(err, &e) && e.What == "pte" && e.At == Where{Space: SpacePhysical, Addr: 0xFFFFFF000 + ((g0va>>12)&511)*8}
		}},
		{"VAD lookup for a kernel VA", func(g *guest) *Translator {
			g.va = nonpaged + 0x20*pageSize
			g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.vadMarker())
			return g.b.translator(mask46)
		}, func(err error) bool { var e *EntryError; return errors.As(err, &e) }},
		{"VAD lookup outside any VAD", func(g *guest) *Translator {
			g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.vadMarker())
			return g.b.translator(mask46)
		}, func(err error) bool { var e *EntryError; return errors.As(err, &e) }},
		{"VAD lookup in a private VAD", func(g *guest) *Translator {
			g.b.vads.add(g.dtb, VAD{Start: userVA, End: userVA + 1<<20, Private: true, MemCommit: true})
			g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.vadMarker())
			return g.b.translator(mask46)
		}, func(err error) bool { var e *EntryError; return errors.As(err, &e) }},
		{"mapped VAD without prototype PTEs", func(g *guest) *Translator {
			g.b.vads.add(g.dtb, VAD{Start: userVA, End: userVA + 1<<20})
			return g.b.translator(mask46)
		}, func(err error) bool { var e *ReadError; return errors.As(err, &e) && e.What == "VAD" }},
		{"prototype pointer to a user VA", func(g *guest) *Translator {
			g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.protoPointer(0x1000))
			return g.b.translator(mask46)
		}, func(err error) bool { var e *ReadError; return errors.As(err, &e) && e.What == "prototype PTE" }},
		{"prototype PTE outside its subsection", func(g *guest) *Translator {
			g.b.subsection(g.dtb, g.subs, g.pool+0x100, 4, 8, 17, 0)
			p := g.protoSlot(0x100/8+4, g.b.subsectionPTE(g.subs, 3)) // index 4 of 4
			g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.protoPointer(p))
			return g.b.translator(mask46)
		}, func(err error) bool {
			var e *EntryError
			return errors.As(err, &e) && strings.Contains(e.Reason, "outside its subsection")
		}},
		{"subsection pointer to a user VA", func(g *guest) *Translator {
			p := g.protoSlot(1, g.b.subsectionPTE(0x2000, 3))
			g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.protoPointer(p))
			return g.b.translator(mask46)
		}, func(err error) bool { var e *ReadError; return errors.As(err, &e) && e.What == "_SUBSECTION" }},
		{"a cycle of prototype PTEs", func(g *guest) *Translator {
			// The pool page's own kernel PTE points into the pool page.
			proto := g.pool + 0x30
			g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.protoPointer(proto))
			g.b.mem.write64(g.b.entryPA(g.dtb, g.pool, LevelPTE), g.b.swizzle(g.b.protoPointer(proto)))
			return g.b.translator(mask46)
		}, func(err error) bool { return errors.Is(err, ErrTooDeep) }},
		{"zero entry without a VAD resolver", func(g *guest) *Translator {
			return g.b.translator(mask46, func(c *Config) { c.VADs = nil })
		}, func(err error) bool { return errors.Is(err, ErrNoVADs) }},
		{"VAD resolver fails", func(g *guest) *Translator {
			return g.b.translator(mask46, func(c *Config) { c.VADs = failingVADs{} })
		}, func(err error) bool { return errors.Is(err, errVADRead) }},
		{"VAD resolver answers a VAD that does not contain the VA", func(g *guest) *Translator {
			return g.b.translator(mask46, func(c *Config) { c.VADs = wrongVADs{} })
		}, func(err error) bool { var e *ReadError; return errors.As(err, &e) && e.What == "VAD" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGuest(t, 36, mask46)
			tr := c.setup(g)
			loc, err := tr.Translate(g.dtb, g.va)
			if err == nil || !c.check(err) || loc.State != StateUnknown {
				t.Fatalf("Translate = %+v, %v (%T)\n%s", loc, err, err, tr.Vtop(g.dtb, g.va))
			}
			buf := []byte{1, 2, 3}
			res := tr.ReadVirtual(g.dtb, g.va, buf)
			if res.N != 0 || res.Err() == nil || buf[0]|buf[1]|buf[2] != 0 {
				t.Fatalf("ReadVirtual served %d bytes (%v)", res.N, res.Err())
			}
			if p := tr.Vtop(g.dtb, g.va); !strings.Contains(p.String(), "Invalid: ") {
				t.Errorf("vtop does not say why:\n%s", p)
			}
		})
	}
}

// g0va is newGuest's default VA.
const g0va = userVA + 5*pageSize

var errVADRead = errors.New("VAD tree unreadable")

type failingVADs struct{}

func (failingVADs) FindVAD(dtb, va uint64) (VAD, bool, error) { return VAD{}, false, errVADRead }

type wrongVADs struct{}

func (wrongVADs) FindVAD(dtb, va uint64) (VAD, bool, error) {
	return VAD{Start: va + pageSize, End: va + 2*pageSize, Private: true, MemCommit: true}, true, nil
}

func TestKernelVAsAskNoVAD(t *testing.T) {
	g := newGuest(t, 36, mask46)
	tr := g.b.translator(mask46)
	for _, va := range []uint64{nonpaged + 0x30*pageSize, 0xfffff80000000000} {
		if loc, err := tr.Translate(g.dtb, va); err != nil || loc.State != StateNotMapped {
			t.Errorf("Translate(0x%x) = %+v, %v", va, loc, err)
		}
	}
	if g.b.vads.calls != 0 {
		t.Errorf("the VAD resolver was asked %d times about kernel VAs", g.b.vads.calls)
	}
}

func TestConfigErrors(t *testing.T) {
	l := testLayout(36)
	var ce *ConfigError
	if _, err := New(Config{Physical: newPhysMem()}); !errors.As(err, &ce) {
		t.Errorf("no layout: %v", err)
	}
	if _, err := New(Config{Layout: l}); !errors.As(err, &ce) {
		t.Errorf("no physical reader: %v", err)
	}
	if _, err := New(Config{Layout: l, Physical: newPhysMem(), Pagefiles: map[uint64]Pagefile{16: {}}}); !errors.As(err, &ce) {
		t.Errorf("paging file 16 with a 4-bit PageFileLow: %v", err)
	}
	bad := *l
	bad.PTESize = 16
	var le *LayoutError
	if _, err := New(Config{Layout: &bad, Physical: newPhysMem()}); !errors.As(err, &le) {
		t.Errorf("16-byte PTEs: %v", err)
	}
}
