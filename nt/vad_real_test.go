package nt

import (
	"testing"

	"github.com/frostvmi/frost/translate"
)

// TestRealISFUserDTB: with KVA shadowing (Meltdown's mitigation) a process
// runs user code on a second page table, Pcb.UserDirectoryTableBase, and
// a user-mode CR3 carries that table with a PCID and the no-flush bit.
// The process, and its VADs for translation, are found from such a CR3.
// mini-NT has no KVA shadow (UserDirectoryTableBase is 0). The VADs are
// Windows 10's _MMVAD_SHORT/_MMVAD bitfields, an image view above 16 TiB
// among them (VPNs past 32 bits).
func TestRealISFUserDTB(t *testing.T) {
	g := newRealGuest(t)
	g.process(4, 0, 0x1ad000, "System")
	ep := g.process(0x2f4, 0x2c8, 0x7e4d2002, "notepad.exe")
	g.set("_EPROCESS", ep, "Pcb.UserDirectoryTableBase", 0x7e4d3001)
	buildVADs(g, ep, sampleVADs)

	k := g.kernel()
	for _, cr3 := range []uint64{0x7e4d2002, 0x7e4d3001, 1<<63 | 0x7e4d3001, 1<<63 | 0x7e4d3000 | 0x2} {
		p, err := k.ProcessByDTB(cr3)
		if err != nil || p.EPROCESS != ep || p.UserDTB != 0x7e4d3001 {
			t.Errorf("ProcessByDTB(%#x) = %v, %v; want notepad.exe", cr3, p, err)
		}
	}
	p, _ := k.ProcessByDTB(0x7e4d3001)
	vads, err := k.VADs(p)
	if err != nil || len(vads) != len(sampleVADs) {
		t.Fatalf("VADs = %v, %v", vads, err)
	}
	for i, v := range vads {
		w := sampleVADs[i]
		if v.Start != w.start || v.End != w.end || v.Private != w.private || v.MemCommit != w.commit || v.Protection != w.protection {
			t.Errorf("VAD %d: %v, want %+v", i, v, w)
		}
	}
	view := sampleVADs[3]
	// Twice: the second answer comes through the DTB cache.
	for range 2 {
		got, ok, err := k.FindVAD(1<<63|0x7e4d3001, view.start+0x3000)
		want := translate.VAD{Start: view.start, End: view.end, Protection: view.protection, FirstPrototypePte: view.proto, Subsection: view.proto + 0x10000}
		if err != nil || !ok || got != want {
			t.Errorf("FindVAD by the user CR3 = %+v, %v, %v; want %+v", got, ok, err, want)
		}
	}
	if _, ok, err := k.FindVAD(0x7e4d3001, 0x30000); err != nil || ok {
		t.Errorf("FindVAD in no VAD = %v, %v", ok, err)
	}
}
