package symbols

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// model is a small hand-made table with the shapes the readers produce:
// a named union member (_MMPTE.u), anonymous members (ISF style, and
// nested twice), arrays of structs, bitfields, a pointer.
func model(t testing.TB) *Table {
	t.Helper()
	u64 := TypeRef{Kind: KindBase, Name: "unsigned long long"}
	u32 := TypeRef{Kind: KindBase, Name: "unsigned long"}
	bf := func(sub TypeRef, pos, n uint32) TypeRef {
		return TypeRef{Kind: KindBitfield, Sub: &sub, BitPosition: pos, BitLength: n}
	}
	d := &Data{
		ID: Identity{PDBName: "test.pdb", Age: 3},
		BaseTypes: map[string]BaseType{
			"unsigned long long": {Size: 8, Kind: BaseInt},
			"unsigned long":      {Size: 4, Kind: BaseInt},
			"unsigned char":      {Size: 1, Kind: BaseChar},
			"pointer":            {Size: 8, Kind: BaseInt},
		},
		UserTypes: map[string]*UserType{
			"_MMPTE_HARDWARE": {Kind: KindStruct, Size: 8, Fields: []Member{
				{Name: "Valid", Type: bf(u64, 0, 1)},
				{Name: "PageFrameNumber", Type: bf(u64, 12, 36)},
			}},
			"__anonymous_1": {Kind: KindUnion, Size: 8, Fields: []Member{
				{Name: "Long", Type: u64},
				{Name: "Hard", Type: TypeRef{Kind: KindStruct, Name: "_MMPTE_HARDWARE"}},
			}},
			"_MMPTE": {Kind: KindStruct, Size: 8, Fields: []Member{
				{Name: "u", Type: TypeRef{Kind: KindUnion, Name: "__anonymous_1"}},
			}},
			"_INNER": {Kind: KindStruct, Size: 8, Fields: []Member{
				{Name: "Deep", Offset: 4, Type: u32},
			}},
			"__anonymous_2": {Kind: KindUnion, Size: 16, Fields: []Member{
				{Name: "Raw", Type: u64},
				{Name: "unnamed_field_0", Offset: 8, Anonymous: true, Type: TypeRef{Kind: KindStruct, Name: "_INNER"}},
			}},
			"_OUTER": {Kind: KindStruct, Size: 0x40, Fields: []Member{
				{Name: "Head", Type: u32},
				{Name: "unnamed_field_0", Offset: 8, Anonymous: true, Type: TypeRef{Kind: KindUnion, Name: "__anonymous_2"}},
				{Name: "Ptes", Offset: 0x18, Type: TypeRef{Kind: KindArray, Count: 4, Sub: &TypeRef{Kind: KindStruct, Name: "_MMPTE"}}},
				{Name: "Next", Offset: 0x38, Type: TypeRef{Kind: KindPointer, Sub: &TypeRef{Kind: KindStruct, Name: "_OUTER"}}},
			}},
			// A malformed model: an anonymous member of its own type.
			"_LOOP": {Kind: KindStruct, Size: 8, Fields: []Member{
				{Name: "self", Anonymous: true, Type: TypeRef{Kind: KindStruct, Name: "_LOOP"}},
			}},
			"_MISSING": {Kind: KindStruct, Size: 8, Fields: []Member{
				{Name: "Ghost", Type: TypeRef{Kind: KindStruct, Name: "_NOWHERE"}},
			}},
		},
		Enums: map[string]*Enum{
			"_POOL_TYPE":    {Base: "unsigned long", Size: 4, Constants: map[string]int64{"NonPagedPool": 0, "PagedPool": 1}},
			"__anonymous_9": {Base: "unsigned long", Size: 4, Constants: map[string]int64{"StValid": 0, "StTransition": 1}},
			"__anonymous_a": {Base: "unsigned long", Size: 4, Constants: map[string]int64{"StTransition": 7}},
		},
		Symbols: map[string]Symbol{
			"KiSystemStartup": {Address: 0x1000},
			"Alias":           {Address: 0x1000},
			"NtWriteFile":     {Address: 0x2000},
			"MiState":         {Address: 0x9000},
		},
	}
	tab, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestFieldPaths(t *testing.T) {
	tab := model(t)
	type want struct {
		off    uint64
		pos, n uint32
		size   uint64
		kind   Kind
	}
	for path, w := range map[string]want{
		"_MMPTE.u":                      {0, 0, 0, 8, KindUnion},
		"_MMPTE.u.Hard.PageFrameNumber": {0, 12, 36, 8, KindBitfield},
		"_MMPTE.u.Long":                 {0, 0, 0, 8, KindBase},
		"_OUTER.Raw":                    {8, 0, 0, 8, KindBase},  // through one anonymous member
		"_OUTER.Deep":                   {20, 0, 0, 4, KindBase}, // through two
		"_OUTER.unnamed_field_0.Deep":   {20, 0, 0, 4, KindBase}, // naming the first
		"_OUTER.unnamed_field_0.unnamed_field_0.Deep": {20, 0, 0, 4, KindBase},
		"_OUTER.Ptes":                 {0x18, 0, 0, 32, KindArray},
		"_OUTER.Ptes[2]":              {0x28, 0, 0, 8, KindStruct},
		"_OUTER.Ptes[3].u.Hard.Valid": {0x30, 0, 1, 8, KindBitfield},
		"_OUTER.Ptes[0x1].u":          {0x20, 0, 0, 8, KindUnion},
		"_OUTER.Next":                 {0x38, 0, 0, 8, KindPointer},
	} {
		f, err := tab.Field(path)
		if err != nil {
			t.Errorf("Field(%s): %v", path, err)
			continue
		}
		if got := (want{f.Offset, f.BitPosition, f.BitLength, f.Size, f.Kind}); got != w {
			t.Errorf("Field(%s) = %+v, want %+v", path, got, w)
		}
	}
}

func TestFieldErrors(t *testing.T) {
	tab := model(t)
	for path, c := range map[string]struct {
		sentinel error
		missing  string
		in       string
	}{
		"_NOPE.x":            {ErrTypeNotFound, "_NOPE", ""},
		"_MMPTE.v":           {ErrFieldNotFound, "v", "_MMPTE"},
		"_MMPTE.u.Hard.Nope": {ErrFieldNotFound, "Nope", "_MMPTE_HARDWARE"},
		"_OUTER.Next.Head":   {ErrBadPath, "", ""}, // crosses a pointer
		"_OUTER.Head.x":      {ErrBadPath, "", ""}, // into a base type
		"_OUTER.Ptes[4]":     {ErrBadPath, "", ""},
		"_OUTER.Head[0]":     {ErrBadPath, "", ""},
		"_OUTER.Ptes[":       {ErrBadPath, "", ""},
		"_OUTER.Ptes[x]":     {ErrBadPath, "", ""},
		"_OUTER..Head":       {ErrBadPath, "", ""},
		"_OUTER.Head.":       {ErrBadPath, "", ""},
		"_OUTER":             {ErrBadPath, "", ""},
		"":                   {ErrBadPath, "", ""},
		".Head":              {ErrBadPath, "", ""},
		"_OUTER.[1]":         {ErrBadPath, "", ""},
		"_LOOP.anything":     {ErrFieldNotFound, "anything", "_LOOP"},
		"_MISSING.Ghost.x":   {ErrTypeNotFound, "_NOWHERE", ""},
		"_MISSING.Ghost":     {ErrTypeNotFound, "_NOWHERE", ""},
	} {
		_, err := tab.Field(path)
		var le *LookupError
		if !errors.Is(err, c.sentinel) || !errors.As(err, &le) {
			t.Errorf("Field(%q) = %v, want %v", path, err, c.sentinel)
			continue
		}
		if le.Missing != c.missing || le.In != c.in || le.Query != path {
			t.Errorf("Field(%q): missing %q in %q (query %q), want %q in %q", path, le.Missing, le.In, le.Query, c.missing, c.in)
		}
		if !strings.Contains(err.Error(), "test.pdb") || (c.missing != "" && !strings.Contains(err.Error(), c.missing)) {
			t.Errorf("Field(%q): message %q does not name the table and what was missing", path, err)
		}
	}
}

func TestSizesEnumsSymbols(t *testing.T) {
	tab := model(t)
	for name, want := range map[string]uint64{"_OUTER": 0x40, "_POOL_TYPE": 4, "pointer": 8, "unsigned char": 1} {
		if got, err := tab.Size(name); err != nil || got != want {
			t.Errorf("Size(%s) = %d, %v", name, got, err)
		}
	}
	if _, err := tab.Size("_NOPE"); !errors.Is(err, ErrTypeNotFound) || !strings.Contains(err.Error(), "_NOPE") {
		t.Errorf("Size(_NOPE): %v", err)
	}
	if v, err := tab.EnumValue("_POOL_TYPE", "PagedPool"); err != nil || v != 1 {
		t.Errorf("PagedPool = %d, %v", v, err)
	}
	if v, err := tab.EnumValue("", "StValid"); err != nil || v != 0 {
		t.Errorf("StValid in any enum = %d, %v", v, err)
	}
	if _, err := tab.EnumValue("", "StTransition"); !errors.Is(err, ErrEnumNotFound) || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("an ambiguous constant: %v", err)
	}
	for _, q := range [][2]string{{"_POOL_TYPE", "Nope"}, {"_NOPE", "PagedPool"}, {"", "Nope"}} {
		if _, err := tab.EnumValue(q[0], q[1]); !errors.Is(err, ErrEnumNotFound) {
			t.Errorf("EnumValue(%s, %s): %v", q[0], q[1], err)
		}
	}
	if a, err := tab.Address("NtWriteFile"); err != nil || a != 0x2000 {
		t.Errorf("NtWriteFile at %#x, %v", a, err)
	}
	if _, err := tab.Address("NtNope"); !errors.Is(err, ErrSymbolNotFound) || !strings.Contains(err.Error(), "NtNope") {
		t.Errorf("a missing symbol: %v", err)
	}
	for rva, want := range map[uint64]string{
		0x1000: "nt!Alias", // of two at one address, the first by name
		0x1fff: "nt!Alias+0xfff",
		0x2004: "nt!NtWriteFile+0x4",
		0x9100: "nt!MiState+0x100",
		0xfff:  "nt+0xfff", // below every symbol
	} {
		if got := Describe("nt", tab, rva); got != want {
			t.Errorf("Describe(%#x) = %s, want %s", rva, got, want)
		}
	}
}

func TestExtract(t *testing.T) {
	tab := model(t)
	f, err := tab.Field("_MMPTE.u.Hard.PageFrameNumber")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Extract(0x8000_0001_2345_6867); got != 0x1_2345_6 {
		t.Errorf("PFN of 0x8000000123456867 = %#x", got)
	}
	f, _ = tab.Field("_OUTER.Deep")
	if got := f.Extract(0xffff_ffff_1234_5678); got != 0x1234_5678 {
		t.Errorf("a 4-byte field from 8 bytes = %#x", got)
	}
	wide := Field{Kind: KindBitfield, BitPosition: 0, BitLength: 64}
	if wide.Extract(^uint64(0)) != ^uint64(0) {
		t.Error("a 64-bit bitfield")
	}
}

func TestGUID(t *testing.T) {
	g, err := ParseGUID("{606FF669-409B-00F7-FC8C-61A9C1670129}")
	if err != nil {
		t.Fatal(err)
	}
	// On disk, Data1..Data3 are little-endian.
	if g[0] != 0x69 || g[3] != 0x60 || g[4] != 0x9b || g[8] != 0xfc || g.String() != "606FF669409B00F7FC8C61A9C1670129" {
		t.Errorf("GUID bytes % x, String %s", g[:], g)
	}
	if h, err := ParseGUID("606ff669409b00f7fc8c61a9c1670129"); err != nil || h != g {
		t.Errorf("lower-case store form: %s, %v", h, err)
	}
	for _, bad := range []string{"", "606FF669", "606FF669409B00F7FC8C61A9C167012Z", "{606FF669-409B-00F7-FC8C-61A9C16701}"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q) accepted", bad)
		}
	}
	id := Identity{GUID: g, Age: 0x1a, PDBName: "ntkrnlmp.pdb"}
	if id.PDBKey() != "606FF669409B00F7FC8C61A9C16701291A" || id.ISFKey() != "606FF669409B00F7FC8C61A9C1670129-26" {
		t.Errorf("keys %s %s", id.PDBKey(), id.ISFKey())
	}
}

func TestNewRejectsBadModels(t *testing.T) {
	for name, d := range map[string]*Data{
		"nil":       nil,
		"nil type":  {UserTypes: map[string]*UserType{"x": nil}},
		"base kind": {UserTypes: map[string]*UserType{"x": {Kind: KindBase}}},
		"nil enum":  {Enums: map[string]*Enum{"e": nil}},
	} {
		if _, err := New(d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Empty maps are a valid, empty table.
	tab, err := New(&Data{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tab.Nearest(5); !errors.Is(err, ErrSymbolNotFound) {
		t.Errorf("Nearest in an empty table: %v", err)
	}
}

// TestConcurrentLookups runs lookups from many goroutines; with -race it
// checks the table is safe to share.
func TestConcurrentLookups(t *testing.T) {
	tab := model(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				if _, err := tab.Field("_OUTER.Ptes[3].u.Hard.Valid"); err != nil {
					t.Error(err)
					return
				}
				tab.Nearest(0x2004)
			}
		}()
	}
	wg.Wait()
}

func BenchmarkFieldPath(b *testing.B) {
	tab := model(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tab.Field("_MMPTE.u.Hard.PageFrameNumber"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAnonymousBlowup: anonymous members nested so that a full search
// would visit 2^40 types end quickly in "not found".
func TestAnonymousBlowup(t *testing.T) {
	d := &Data{UserTypes: map[string]*UserType{}}
	for i := 0; i < 40; i++ {
		next := TypeRef{Kind: KindStruct, Name: fmt.Sprintf("L%d", i+1)}
		d.UserTypes[fmt.Sprintf("L%d", i)] = &UserType{Kind: KindStruct, Size: 8, Fields: []Member{
			{Name: "a", Anonymous: true, Type: next}, {Name: "b", Anonymous: true, Type: next},
		}}
	}
	d.UserTypes["L40"] = &UserType{Kind: KindStruct, Size: 8}
	tab, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := tab.Field("L0.missing"); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrFieldNotFound) {
			t.Errorf("L0.missing: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the anonymous-member search did not end")
	}
}
