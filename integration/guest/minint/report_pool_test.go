package minint

import (
	"strings"
	"testing"
)

// Lines as the guest printed them on a seed=11 boot.
const poolReport = `frost-guest: pool-big-table address=0xffffa00000000000 entries=512 entry-size=32
frost-guest: info-mask-to-offset address=0xfffff806ac817c90 creator=0x20 name=0x20 creator-name=0x40 all=0xa4
frost-guest: pool-object type=Type tag="ObjT" pool=0xffffa00000004000 block-size=0x100 pool-type=2 header=0xffffa00000004050 object=0xffffa00000004080 info-mask=0x3
frost-guest: pool-object type=Directory tag="Dire" pool=0xffffa000200001a0 block-size=0x1c0 pool-type=3 header=0xffffa000200001d0 object=0xffffa00020000200 info-mask=0x2
frost-guest: directory name=\ object=0xffffa00020000200 header=0xffffa000200001d0
frost-guest: directory-entry directory=\ name=Device type=Directory object=0xffffa00020000840 header=0xffffa00020000810 name-info=0xffffa000200007f0 entry=0xffffa000200009d0 bucket=19 hash=0xc6f3
frost-guest: directory name=\Device object=0xffffa00020000840 header=0xffffa00020000810
frost-guest: pool-big va=0xffffa00000005000 tag="Obtb" bytes=0x1000 pool-type=0 entry=0xffffa000000000a0
frost-guest: pool-object type=Process tag="Proc" pool=0xffffa00000006260 block-size=0x190 pool-type=2 header=0xffffa00000006270 object=0xffffa000000062a0 info-mask=0x0
frost-guest: directory-entry directory=\Device name=HarddiskVolume1 type=Device object=0xffffa0000000c350 header=0xffffa0000000c320 name-info=0xffffa0000000c300 entry=0xffffa00020001100 bucket=13 hash=0xf562ee3b
frost-guest: pool-big va=0xffffa00000008000 tag="Stak" bytes=0x4000 pool-type=0 entry=0xffffa00000000100
frost-guest: pool-object type=Mutant tag="Muta" pool=0xffffa0000008e050 block-size=0xa0 pool-type=2 header=0xffffa0000008e080 object=0xffffa0000008e0b0 info-mask=0x2
frost-guest: mutant name=\BaseNamedObjects\FrostWriterMutant object=0xffffa0000008e0b0 header=0xffffa0000008e080 pid=88 handle=0x4bc owner-thread=0xffffa00000064610 owner-tid=92 signal-state=0
`

func parsePoolReport(t *testing.T, text string) Report {
	t.Helper()
	rep, err := ParseReport(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestReportPool(t *testing.T) {
	rep := parsePoolReport(t, poolReport)
	m, err := rep.InfoMaskToOffset()
	if err != nil || m.Address != 0xfffff806ac817c90 || m.Creator != 0x20 || m.Name != 0x20 || m.CreatorName != 0x40 {
		t.Errorf("InfoMaskToOffset = %+v, %v", m, err)
	}
	objs, err := rep.PoolObjects()
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 4 {
		t.Fatalf("%d pool objects, want 4", len(objs))
	}
	if o := objs[2]; o.Type != "Process" || o.Tag != "Proc" || o.BlockSize != 0x190 || o.PoolType != 2 ||
		o.Header != 0xffffa00000006270 || o.Object != 0xffffa000000062a0 || o.InfoMask != 0 {
		t.Errorf("process block = %+v", o)
	}
	if o := objs[1]; o.Tag != "Dire" || o.PoolType != 3 || o.InfoMask != 2 {
		t.Errorf("directory block = %+v", o)
	}
	bt, err := rep.BigPageTable()
	if err != nil || bt.Address != 0xffffa00000000000 || bt.Entries != 512 || bt.EntrySize != 32 {
		t.Errorf("BigPageTable = %+v, %v", bt, err)
	}
	big, err := rep.BigPages()
	if err != nil || len(big) != 2 || big[1].Tag != "Stak" || big[1].Bytes != 0x4000 || big[1].Entry != 0xffffa00000000100 {
		t.Errorf("BigPages = %+v, %v", big, err)
	}
	dirs, err := rep.Directories()
	if err != nil || len(dirs) != 2 || dirs[1].Name != `\Device` || dirs[1].Object != 0xffffa00020000840 {
		t.Errorf("Directories = %+v, %v", dirs, err)
	}
	ents, err := rep.DirectoryEntries()
	if err != nil || len(ents) != 2 {
		t.Fatalf("DirectoryEntries = %+v, %v", ents, err)
	}
	if p := ents[0].Path(); p != `\Device` {
		t.Errorf("root entry path %q", p)
	}
	if e := ents[1]; e.Path() != `\Device\HarddiskVolume1` || e.Type != "Device" || e.Bucket != 13 || e.Hash != 0xf562ee3b {
		t.Errorf("device entry = %+v", e)
	}
	mus, err := rep.Mutants()
	if err != nil || len(mus) != 1 {
		t.Fatalf("Mutants = %+v, %v", mus, err)
	}
	if mu := mus[0]; mu.Name != `\BaseNamedObjects\FrostWriterMutant` || mu.PID != 88 || mu.Handle != 0x4bc ||
		mu.OwnerThread != 0xffffa00000064610 || mu.OwnerTID != 92 || mu.SignalState != 0 {
		t.Errorf("mutant = %+v", mu)
	}
}

// Each line contradicts a rule the views check; each must be refused.
func TestReportPoolRejects(t *testing.T) {
	for _, c := range []struct {
		name, line string
		view       func(Report) error
	}{
		{"tag of 3", `frost-guest: pool-object type=Process tag="Pro" pool=0xffffa00000006260 block-size=0x190 pool-type=2 header=0xffffa00000006270 object=0xffffa000000062a0 info-mask=0x0`,
			func(r Report) error { _, err := r.PoolObjects(); return err }},
		{"header outside the block", `frost-guest: pool-object type=Process tag="Proc" pool=0xffffa00000006260 block-size=0x20 pool-type=2 header=0xffffa00000006290 object=0xffffa000000062c0 info-mask=0x0`,
			func(r Report) error { _, err := r.PoolObjects(); return err }},
		{"block past its page", `frost-guest: pool-object type=Process tag="Proc" pool=0xffffa00000006f80 block-size=0x190 pool-type=2 header=0xffffa00000006f90 object=0xffffa00000006fc0 info-mask=0x0`,
			func(r Report) error { _, err := r.PoolObjects(); return err }},
		{"wrong bucket", `frost-guest: directory-entry directory=\Device name=HarddiskVolume1 type=Device object=0xffffa0000000c350 header=0xffffa0000000c320 name-info=0xffffa0000000c300 entry=0xffffa00020001100 bucket=14 hash=0xf562ee3b`,
			func(r Report) error { _, err := r.DirectoryEntries(); return err }},
		{"owned without owner", `frost-guest: mutant name=\BaseNamedObjects\M object=0xffffa0000008e0b0 header=0xffffa0000008e080 pid=88 handle=0x4bc owner-thread=0x0 owner-tid=0 signal-state=0`,
			func(r Report) error { _, err := r.Mutants(); return err }},
		{"entries not a power of 2", `frost-guest: pool-big-table address=0xffffa00000000000 entries=500 entry-size=32`,
			func(r Report) error { _, err := r.BigPageTable(); return err }},
		{"big page outside the table", "frost-guest: pool-big-table address=0xffffa00000000000 entries=512 entry-size=32\n" +
			`frost-guest: pool-big va=0xffffa00000005000 tag="Obtb" bytes=0x1000 pool-type=0 entry=0xffffa00000004000`,
			func(r Report) error { _, err := r.BigPages(); return err }},
		{"root not first", `frost-guest: directory name=\Device object=0xffffa00020000840 header=0xffffa00020000810`,
			func(r Report) error { _, err := r.Directories(); return err }},
		{"entries that do not add up", `frost-guest: info-mask-to-offset address=0xfffff806ac817c90 creator=0x20 name=0x20 creator-name=0x50 all=0xa4`,
			func(r Report) error { _, err := r.InfoMaskToOffset(); return err }},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.view(parsePoolReport(t, c.line+"\n")); err == nil {
				t.Errorf("accepted %q", c.line)
			}
		})
	}
}
