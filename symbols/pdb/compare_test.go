package pdb

import (
	"sort"
	"strings"
	"testing"

	"github.com/frostvmi/frost/symbols"
)

// checked counts what a comparison covered, so a test can insist it
// covered something.
type checked struct {
	types, members, bitfields, enums, constants, publics int
}

// compareWithDump checks every named type, member, enumerator and public
// symbol llvm-pdbutil sees against what the reader answers.
func compareWithDump(t *testing.T, tab *symbols.Table, d *dump) checked {
	t.Helper()
	var c checked
	id := tab.Identity()
	if id.GUID.String() != d.guid || uint64(id.Age) != d.age {
		t.Errorf("identity %s age %d, llvm-pdbutil says %s age %d", id.GUID, id.Age, d.guid, d.age)
	}

	tis := make([]uint32, 0, len(d.records))
	for ti := range d.records {
		tis = append(tis, ti)
	}
	sort.Slice(tis, func(i, j int) bool { return tis[i] < tis[j] })
	seen := map[string]bool{}
	for _, ti := range tis {
		r := d.records[ti]
		if r.forward || unnamed(r.name) || seen[r.leaf[3:4]+r.name] {
			continue
		}
		switch r.leaf {
		case "LF_STRUCTURE", "LF_CLASS", "LF_UNION":
			seen[r.leaf[3:4]+r.name] = true
			c.types++
			compareUDT(t, tab, d, r, &c)
		case "LF_ENUM":
			seen[r.leaf[3:4]+r.name] = true
			c.enums++
			_, es := d.fieldList(r.fields)
			for _, e := range es {
				got, err := tab.EnumValue(r.name, e.name)
				want := enumValue(e.value, r.utype)
				if err != nil || got != want {
					t.Errorf("%s.%s = %d, %v; llvm-pdbutil: %d (as %#x's width: %d)", r.name, e.name, got, err, e.value, r.utype, want)
				}
				c.constants++
			}
		}
	}

	for name, a := range d.publics {
		if a.seg == 0 || int(a.seg) > len(d.sections) {
			continue
		}
		want := uint64(d.sections[a.seg-1]) + uint64(a.off)
		got, err := tab.Address(name)
		if err != nil || got != want {
			t.Errorf("Address(%q) = %#x, %v; llvm-pdbutil: %04d:%d = %#x", name, got, err, a.seg, a.off, want)
		}
		c.publics++
	}
	return c
}

func compareUDT(t *testing.T, tab *symbols.Table, d *dump, r *dumpRecord, c *checked) {
	t.Helper()
	size, err := tab.Size(r.name)
	if err != nil || size != r.sizeof {
		t.Errorf("Size(%s) = %d, %v; llvm-pdbutil: %d", r.name, size, err, r.sizeof)
	}
	ut, err := tab.UserType(r.name)
	if err != nil {
		t.Errorf("UserType(%s): %v", r.name, err)
		return
	}
	wantKind := map[string]symbols.Kind{"LF_STRUCTURE": symbols.KindStruct, "LF_CLASS": symbols.KindClass, "LF_UNION": symbols.KindUnion}[r.leaf]
	if ut.Kind != wantKind {
		t.Errorf("%s is a %v, llvm-pdbutil: %s", r.name, ut.Kind, r.leaf)
	}
	members, _ := d.fieldList(r.fields)
	data := 0 // members that are not base classes, which llvm-pdbutil lists apart
	for _, f := range ut.Fields {
		if !strings.HasPrefix(f.Name, "__base_") {
			data++
		}
	}
	if data != len(members) {
		t.Errorf("%s has %d data members, llvm-pdbutil lists %d", r.name, data, len(members))
	}
	for _, m := range members {
		c.members++
		path := r.name + "." + m.name
		f, err := tab.Field(path)
		if err != nil {
			t.Errorf("Field(%s): %v", path, err)
			continue
		}
		if f.Offset != m.offset {
			t.Errorf("%s at %d, llvm-pdbutil: %d", path, f.Offset, m.offset)
		}
		mt := d.records[m.typ]
		for mt != nil && mt.leaf == "LF_MODIFIER" {
			m.typ = mt.referent
			mt = d.records[mt.referent]
		}
		want := symbols.KindBase
		var wantSize uint64
		switch {
		case mt == nil && m.typ&0xf00 != 0:
			want = symbols.KindPointer
		case mt == nil:
		case mt.leaf == "LF_BITFIELD":
			want = symbols.KindBitfield
			c.bitfields++
			if f.BitPosition != mt.bitPos || f.BitLength != mt.bitLen {
				t.Errorf("%s is bits %d+%d, llvm-pdbutil: %d+%d", path, f.BitPosition, f.BitLength, mt.bitPos, mt.bitLen)
			}
		case mt.leaf == "LF_POINTER":
			want = symbols.KindPointer
		case mt.leaf == "LF_ARRAY":
			want, wantSize = symbols.KindArray, mt.arraySize
		case mt.leaf == "LF_STRUCTURE", mt.leaf == "LF_CLASS", mt.leaf == "LF_UNION":
			want = map[string]symbols.Kind{"LF_STRUCTURE": symbols.KindStruct, "LF_CLASS": symbols.KindClass, "LF_UNION": symbols.KindUnion}[mt.leaf]
			wantSize = d.definitionSize(mt)
		case mt.leaf == "LF_ENUM":
			want = symbols.KindEnum
		default:
			t.Errorf("%s has a %s type; the test does not know what to expect", path, mt.leaf)
		}
		if f.Kind != want {
			t.Errorf("%s is a %v, llvm-pdbutil: %v", path, f.Kind, want)
		}
		if wantSize != 0 && f.Size != wantSize {
			t.Errorf("%s has size %d, llvm-pdbutil: %d", path, f.Size, wantSize)
		}
	}
}

// definitionSize follows a forward reference to its definition by name.
func (d *dump) definitionSize(r *dumpRecord) uint64 {
	if !r.forward {
		return r.sizeof
	}
	best := uint32(0)
	for ti, o := range d.records {
		if o.leaf == r.leaf && o.name == r.name && !o.forward && (best == 0 || ti < best) {
			best = ti
		}
	}
	if best == 0 {
		return 0
	}
	return d.records[best].sizeof
}

// enumValue reads an enumerator as llvm-pdbutil prints it (unsigned) at
// the width and signedness of the enum's underlying simple type.
func enumValue(v uint64, utype uint32) int64 {
	switch utype {
	case 0x74, 0x12: // int, long
		return int64(int32(uint32(v)))
	case 0x75, 0x22:
		return int64(uint32(v))
	case 0x11, 0x72:
		return int64(int16(uint16(v)))
	case 0x21, 0x73:
		return int64(uint16(v))
	case 0x10, 0x68, 0x70:
		return int64(int8(uint8(v)))
	case 0x20, 0x69:
		return int64(uint8(v))
	}
	return int64(v)
}
