package isf

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/internal/testenv"
)

// The real Windows 10 ISF (ntkrnlmp.pdb 606FF669409B00F7FC8C61A9C1670129-1,
// kernel 10.0.19041.3570) holds these values. Each was read from the file
// (python3 -c 'import json,lzma; ...') and is asserted here; the test
// also re-reads them with encoding/json as an independent parser.
var realFields = map[string]symbols.Field{
	"_EPROCESS.UniqueProcessId":                      {Offset: 0x440, Size: 8, Kind: symbols.KindPointer},
	"_EPROCESS.ActiveProcessLinks":                   {Offset: 0x448, Size: 16, Kind: symbols.KindStruct},
	"_EPROCESS.ImageFileName":                        {Offset: 0x5a8, Size: 15, Kind: symbols.KindArray},
	"_EPROCESS.Pcb.DirectoryTableBase":               {Offset: 0x28, Size: 8, Kind: symbols.KindBase},
	"_KPROCESS.DirectoryTableBase":                   {Offset: 0x28, Size: 8, Kind: symbols.KindBase},
	"_MMPTE_TRANSITION.SwizzleBit":                   {Offset: 0, BitPosition: 4, BitLength: 1, Size: 8, Kind: symbols.KindBitfield},
	"_MMPTE_HARDWARE.PageFrameNumber":                {Offset: 0, BitPosition: 12, BitLength: 36, Size: 8, Kind: symbols.KindBitfield},
	"_MMPTE_PROTOTYPE.ProtoAddress":                  {Offset: 0, BitPosition: 16, BitLength: 48, Size: 8, Kind: symbols.KindBitfield},
	"_MMPTE.u.Hard.PageFrameNumber":                  {Offset: 0, BitPosition: 12, BitLength: 36, Size: 8, Kind: symbols.KindBitfield},
	"_MMVAD.FirstPrototypePte":                       {Offset: 0x50, Size: 8, Kind: symbols.KindPointer},
	"_MMVAD_SHORT.u1.VadFlags1.MemCommit":            {Offset: 0x34, BitPosition: 31, BitLength: 1, Size: 4, Kind: symbols.KindBitfield},
	"_MI_SYSTEM_INFORMATION.Hardware.InvalidPteMask": {Offset: 0x1680, Size: 8, Kind: symbols.KindBase},
	"_KPCR.Prcb.CurrentThread":                       {Offset: 0x188, Size: 8, Kind: symbols.KindPointer},
}

var realAddresses = map[string]uint64{
	"NtCreatePagingFile":          0x7b3330,
	"Phase1InitializationDiscard": 0xa46b24,
	"InitWinPEModeType":           0xc50780,
	"KiImplementedPhysicalBits":   0xcfc62c,
	"MiState":                     0xc4c880,
}

func TestRealISF(t *testing.T) {
	tab, err := Open(testenv.RealISF(t))
	if err != nil {
		t.Fatal(err)
	}
	id := tab.Identity()
	if id.GUID.String() != "606FF669409B00F7FC8C61A9C1670129" || id.Age != 1 || id.PDBName != "ntkrnlmp.pdb" {
		t.Errorf("identity %s", id)
	}
	if m := tab.Data().Machine; m != 0x8664 {
		t.Errorf("machine %#x", m)
	}
	for path, want := range realFields {
		got, err := tab.Field(path)
		if err != nil {
			t.Errorf("Field(%s): %v", path, err)
			continue
		}
		got.Type = symbols.TypeRef{}
		if got != want {
			t.Errorf("Field(%s) = %+v, want %+v", path, got, want)
		}
	}
	for name, want := range realAddresses {
		if got, err := tab.Address(name); err != nil || got != want {
			t.Errorf("Address(%s) = %#x, %v; want %#x", name, got, err, want)
		}
	}
	for name, want := range map[string]uint64{"_KPCR": 0xb080, "_EPROCESS": 0xa40, "_MMPTE": 8, "pointer": 8} {
		if got, err := tab.Size(name); err != nil || got != want {
			t.Errorf("Size(%s) = %#x, %v; want %#x", name, got, err, want)
		}
	}
	// MiState is a _MI_SYSTEM_INFORMATION: where the swizzle mask lives.
	s, err := tab.Symbol("MiState")
	if err != nil {
		t.Fatal(err)
	}
	if name, off, err := tab.Nearest(s.Address + 0x1680); err != nil || name != "MiState" || off != 0x1680 {
		t.Errorf("Nearest(MiState+0x1680) = %s+%#x, %v", name, off, err)
	}
	if got := symbols.Describe("nt", tab, realAddresses["NtCreatePagingFile"]+0x10); got != "nt!NtCreatePagingFile+0x10" {
		t.Errorf("Describe = %q", got)
	}
	if _, err := tab.Address("KiSwizzleBit"); err == nil {
		t.Error("KiSwizzleBit is not in this build, but Address found it")
	}
}

// TestRealISFIndependently re-reads the same answers with encoding/json,
// so the hand-written scanner is checked against another parser.
func TestRealISFIndependently(t *testing.T) {
	raw, err := os.Open(testenv.RealISF(t))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	text, err := readText(raw)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		UserTypes map[string]struct {
			Size   uint64
			Fields map[string]struct {
				Offset uint64
				Type   struct {
					Kind        string
					BitPosition uint32 `json:"bit_position"`
					BitLength   uint32 `json:"bit_length"`
				}
			}
		} `json:"user_types"`
		Symbols map[string]struct{ Address uint64 }
		Enums   map[string]struct{ Constants map[string]int64 }
	}
	if err := json.Unmarshal(text, &doc); err != nil {
		t.Fatal(err)
	}
	tab, err := Read(bytesReader(text))
	if err != nil {
		t.Fatal(err)
	}
	var fields, syms, consts int
	for tn, ut := range doc.UserTypes {
		if sz, err := tab.Size(tn); err != nil || sz != ut.Size {
			t.Errorf("Size(%s) = %d, %v; encoding/json: %d", tn, sz, err, ut.Size)
		}
		for fn, f := range ut.Fields {
			got, err := tab.Field(tn + "." + fn)
			if err != nil || got.Offset != f.Offset || got.Kind.String() != f.Type.Kind ||
				got.BitPosition != f.Type.BitPosition || got.BitLength != f.Type.BitLength {
				t.Errorf("Field(%s.%s) = %+v, %v; encoding/json: %+v", tn, fn, got, err, f)
			}
			fields++
		}
	}
	for name, s := range doc.Symbols {
		if a, err := tab.Address(name); err != nil || a != s.Address {
			t.Errorf("Address(%s) = %#x, %v; encoding/json: %#x", name, a, err, s.Address)
		}
		syms++
	}
	for en, e := range doc.Enums {
		for c, v := range e.Constants {
			if got, err := tab.EnumValue(en, c); err != nil || got != v {
				t.Errorf("EnumValue(%s, %s) = %d, %v; encoding/json: %d", en, c, got, err, v)
			}
			consts++
		}
	}
	if fields < 10000 || syms < 40000 || consts < 1000 {
		t.Errorf("compared only %d fields, %d symbols, %d constants", fields, syms, consts)
	}
}
