package pdb

import (
	"path/filepath"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/internal/testenv"
)

// TestClassesAgainstPDBUtil reads C++ records (base classes, virtual
// bases, methods, static members, nested types, unique names) from a PDB
// built from testdata/classes.cpp: every field list must be read to its
// end, and every member must agree with llvm-pdbutil.
func TestClassesAgainstPDBUtil(t *testing.T) {
	src, err := filepath.Abs(filepath.Join("testdata", "classes.cpp"))
	if err != nil {
		t.Fatal(err)
	}
	pdbPath, _ := testenv.BuildPDB(t, src, "ClassesEntry", "-fno-rtti")
	d := readDump(t, pdbPath)
	res, err := readFile(pdbPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 0 {
		t.Errorf("reader notes: %q", res.Notes)
	}
	tab, err := symbols.New(res.Data)
	if err != nil {
		t.Fatal(err)
	}
	c := compareWithDump(t, tab, d)
	t.Logf("checked %+v", c)
	if c.types < 8 || c.members < 14 || c.enums < 1 {
		t.Errorf("comparison covered too little: %+v", c)
	}

	// Members of base classes read as the derived class's own.
	base, err := tab.Field("Derived.base")
	if err != nil {
		t.Fatal(err)
	}
	via, err := tab.Field("Derived.__base_Base.base")
	if err != nil || via.Offset != base.Offset || base.Offset == 0 {
		t.Errorf("Derived.base at %d, through __base_Base at %d (%v); the vtable pointer comes first", base.Offset, via.Offset, err)
	}
	if f, err := tab.Field("Derived.other"); err != nil || f.Size != 2 {
		t.Errorf("Derived.other (second base): %+v, %v", f, err)
	}
	if f, err := tab.Field("Derived.big"); err != nil || f.Size != 0x8800 || f.Type.Count != 0x1100 {
		t.Errorf("Derived.big: %+v, %v", f, err)
	}
	if f, err := tab.Field("Derived.inner.c"); err != nil || f.Kind != symbols.KindEnum || f.Type.Name != "Derived::Color" {
		t.Errorf("Derived.inner.c: %+v, %v", f, err)
	}
	for c, v := range map[string]int64{"Red": 1, "Green": 0x8000, "Blue": -3} {
		if got, err := tab.EnumValue("Derived::Color", c); err != nil || got != v {
			t.Errorf("Derived::Color::%s = %d, %v", c, got, err)
		}
	}
	// Two structs named Node in two namespaces stay apart.
	for name, size := range map[string]uint64{"ns1::Node": 16, "ns2::Node": 32} {
		if got, err := tab.Size(name); err != nil || got != size {
			t.Errorf("Size(%s) = %d, %v", name, got, err)
		}
	}
	if f, err := tab.Field("Derived.n2.flags"); err != nil || f.BitLength != 3 {
		t.Errorf("Derived.n2.flags: %+v, %v", f, err)
	}
	if ut, err := tab.UserType("Derived"); err != nil || ut.Kind != symbols.KindClass {
		t.Errorf("Derived: %+v, %v", ut, err)
	}
}
