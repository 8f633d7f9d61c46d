package isf

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/internal/testenv"
	"github.com/frostvmi/frost/symbols/pdb"
)

// pdbTables returns the PDBs the round trip is checked on: those built
// from the pdb package's tricky.c and classes.cpp, and mini-NT's kernel.
func pdbTables(t *testing.T) map[string]*symbols.Table {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("..", "pdb", "testdata", "tricky.c"))
	if err != nil {
		t.Fatal(err)
	}
	tricky, _ := testenv.BuildPDB(t, src, "TrickyEntry")
	classes, _ := testenv.BuildPDB(t, filepath.Join(filepath.Dir(src), "classes.cpp"), "ClassesEntry", "-fno-rtti")
	out := map[string]*symbols.Table{}
	for name, path := range map[string]string{
		"tricky":   tricky,
		"classes":  classes,
		"ntkrnlmp": filepath.Join(testenv.GuestOut(t, "ntkrnlmp.pdb"), "ntkrnlmp.pdb"),
	} {
		tab, err := pdb.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out[name] = tab
	}
	return out
}

// queries lists every question the round trip asks of a table: each
// member of each user type (and one level into nested types), each
// type's size, each enum constant, each symbol and its nearest name.
func compareTables(t *testing.T, want, got *symbols.Table) int {
	t.Helper()
	n := 0
	if want.Identity() != got.Identity() {
		t.Errorf("identity %s, want %s", got.Identity(), want.Identity())
	}
	if want.Data().Machine != got.Data().Machine {
		t.Errorf("machine %#x, want %#x", got.Data().Machine, want.Data().Machine)
	}
	d := want.Data()
	names := make([]string, 0, len(d.UserTypes))
	for name := range d.UserTypes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, tn := range names {
		ut := d.UserTypes[tn]
		check := func(path string) {
			w, werr := want.Field(path)
			g, gerr := got.Field(path)
			n++
			if (werr == nil) != (gerr == nil) || !sameField(w, g) {
				t.Errorf("Field(%s): PDB %+v, %v; ISF %+v, %v", path, w, werr, g, gerr)
			}
		}
		ws, _ := want.Size(tn)
		if gs, err := got.Size(tn); err != nil || gs != ws {
			t.Errorf("Size(%s): PDB %d, ISF %d, %v", tn, ws, gs, err)
		}
		for _, m := range ut.Fields {
			check(tn + "." + m.Name)
			if sub, ok := d.UserTypes[m.Type.Name]; ok && m.Type.Kind.IsUserType() {
				for _, sm := range sub.Fields {
					check(tn + "." + m.Name + "." + sm.Name)
				}
			}
		}
	}
	for en, e := range d.Enums {
		for c, v := range e.Constants {
			if g, err := got.EnumValue(en, c); err != nil || g != v {
				t.Errorf("EnumValue(%s, %s): PDB %d, ISF %d, %v", en, c, v, g, err)
			}
			n++
		}
	}
	for name, s := range d.Symbols {
		g, err := got.Symbol(name)
		if err != nil || g.Address != s.Address || (s.Type == nil) != (g.Type == nil) {
			t.Errorf("Symbol(%s): PDB %+v, ISF %+v, %v", name, s, g, err)
		}
		wn, wo, _ := want.Nearest(s.Address + 1)
		gn, gof, _ := got.Nearest(s.Address + 1)
		if wn != gn || wo != gof {
			t.Errorf("Nearest(%#x): PDB %s+%d, ISF %s+%d", s.Address+1, wn, wo, gn, gof)
		}
		n += 2
	}
	return n
}

func sameField(a, b symbols.Field) bool {
	return a.Offset == b.Offset && a.BitPosition == b.BitPosition && a.BitLength == b.BitLength &&
		a.Size == b.Size && a.Kind == b.Kind && a.Type.Name == b.Type.Name && a.Type.Count == b.Type.Count
}

// TestRoundTrip writes each PDB as ISF (plain and xz), reads it back, and
// asks both tables the same questions.
func TestRoundTrip(t *testing.T) {
	for name, tab := range pdbTables(t) {
		t.Run(name, func(t *testing.T) {
			for _, compress := range []bool{false, true} {
				var buf bytes.Buffer
				write := Write
				if compress {
					write = WriteXZ
				}
				if err := write(&buf, tab.Data()); err != nil {
					t.Fatal(err)
				}
				if compress != IsXZ(buf.Bytes()) {
					t.Fatalf("compress=%v, but the output starts % x", compress, buf.Bytes()[:6])
				}
				back, err := Read(bytes.NewReader(buf.Bytes()))
				if err != nil {
					t.Fatal(err)
				}
				n := compareTables(t, tab, back)
				if n < 100 {
					t.Errorf("the round trip asked only %d questions", n)
				}
			}
			// The same model writes the same bytes.
			var a, b bytes.Buffer
			if err := Write(&a, tab.Data()); err != nil {
				t.Fatal(err)
			}
			if err := Write(&b, tab.Data()); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Error("two writes of one model differ")
			}
			checkSchema(t, a.Bytes(), tab)
		})
	}
}

// checkSchema checks a written ISF against the rules of the ISF 6.x
// schema (volatility3/schemas/schema-6.x.json) that Volatility 3 relies
// on, decoding it with encoding/json, independently of the reader.
func checkSchema(t *testing.T, text []byte, tab *symbols.Table) {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"metadata", "base_types", "user_types", "enums", "symbols"} {
		if _, ok := doc[k].(map[string]any); !ok {
			t.Errorf("top-level %q is missing or not an object", k)
		}
	}
	if len(doc) != 5 {
		t.Errorf("top-level keys %v: the schema allows no others", keys(doc))
	}
	meta := obj(t, doc["metadata"], "metadata")
	if f, _ := meta["format"].(string); !regexp.MustCompile(`^6\.[0-9]+\.[0-9]+$`).MatchString(f) {
		t.Errorf("metadata.format %q", f)
	}
	prod := obj(t, meta["producer"], "metadata.producer")
	if prod["name"] != "frost" || !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(str(prod["version"])) {
		t.Errorf("metadata.producer %v", prod)
	}
	p := obj(t, obj(t, meta["windows"], "metadata.windows")["pdb"], "metadata.windows.pdb")
	id := tab.Identity()
	if p["GUID"] != id.GUID.String() || num(t, p["age"]) != int64(id.Age) || p["database"] != id.PDBName {
		t.Errorf("metadata.windows.pdb %v, want %s", p, id)
	}
	if num(t, p["machine_type"]) != 0x8664 {
		t.Errorf("machine_type %v", p["machine_type"])
	}
	if len(p) != 4 {
		t.Errorf("metadata.windows.pdb has keys %v", keys(p))
	}

	for name, v := range obj(t, doc["base_types"], "base_types") {
		b := obj(t, v, name)
		if !regexp.MustCompile(`^(void|int|float|char|bool)$`).MatchString(str(b["kind"])) ||
			!regexp.MustCompile(`^(little|big)$`).MatchString(str(b["endian"])) {
			t.Errorf("base_types.%s = %v", name, b)
		}
		if _, ok := b["signed"].(bool); !ok {
			t.Errorf("base_types.%s.signed = %v", name, b["signed"])
		}
		num(t, b["size"])
	}
	if _, ok := obj(t, doc["base_types"], "base_types")["pointer"]; !ok {
		t.Error("no base_types.pointer")
	}
	fields := 0
	for name, v := range obj(t, doc["user_types"], "user_types") {
		u := obj(t, v, name)
		if !regexp.MustCompile(`^(struct|union|class)$`).MatchString(str(u["kind"])) {
			t.Errorf("user_types.%s.kind %v", name, u["kind"])
		}
		num(t, u["size"])
		for fn, fv := range obj(t, u["fields"], name+".fields") {
			f := obj(t, fv, name+"."+fn)
			num(t, f["offset"])
			for k := range f {
				if k != "type" && k != "offset" && k != "anonymous" {
					t.Errorf("user_types.%s.fields.%s has key %q", name, fn, k)
				}
			}
			checkTypeDesc(t, f["type"], name+"."+fn)
			fields++
		}
	}
	for name, v := range obj(t, doc["enums"], "enums") {
		e := obj(t, v, name)
		num(t, e["size"])
		if _, ok := e["base"].(string); !ok {
			t.Errorf("enums.%s.base %v", name, e["base"])
		}
		for c, cv := range obj(t, e["constants"], name+".constants") {
			if _, ok := cv.(json.Number); !ok || strings.ContainsAny(cv.(json.Number).String(), ".eE") {
				t.Errorf("enums.%s.constants.%s = %v, want an integer", name, c, cv)
			}
		}
	}
	// Symbol addresses are RVAs, as the PDB's sections place them.
	for name, v := range obj(t, doc["symbols"], "symbols") {
		s := obj(t, v, name)
		want, err := tab.Address(name)
		if err != nil || uint64(num(t, s["address"])) != want {
			t.Errorf("symbols.%s.address %v, want RVA %#x (%v)", name, s["address"], want, err)
		}
		if tv, ok := s["type"]; ok {
			checkTypeDesc(t, tv, "symbols."+name)
		}
	}
	if fields == 0 {
		t.Error("the written ISF has no fields")
	}
}

// checkTypeDesc checks one type descriptor's shape: pointer (subtype),
// array (subtype, count), bitfield (bit_position, bit_length, type of
// kind base or enum), named kinds (name), function (nothing else).
func checkTypeDesc(t *testing.T, v any, where string) {
	t.Helper()
	d := obj(t, v, where)
	allowed := map[string][]string{
		"base": {"kind", "name"}, "struct": {"kind", "name"}, "union": {"kind", "name"}, "class": {"kind", "name"},
		"enum": {"kind", "name"}, "function": {"kind"}, "pointer": {"kind", "subtype", "base"},
		"array": {"kind", "subtype", "count"}, "bitfield": {"kind", "bit_position", "bit_length", "type"},
	}
	kind := str(d["kind"])
	ks, ok := allowed[kind]
	if !ok {
		t.Errorf("%s: kind %q", where, kind)
		return
	}
	for k := range d {
		if !contains(ks, k) {
			t.Errorf("%s: a %s descriptor with key %q", where, kind, k)
		}
	}
	switch kind {
	case "base", "struct", "union", "class", "enum":
		if str(d["name"]) == "" {
			t.Errorf("%s: a %s without a name", where, kind)
		}
	case "pointer":
		checkTypeDesc(t, d["subtype"], where+"->")
	case "array":
		num(t, d["count"])
		checkTypeDesc(t, d["subtype"], where+"[]")
	case "bitfield":
		pos, n := num(t, d["bit_position"]), num(t, d["bit_length"])
		if n < 1 || pos < 0 || pos+n > 64 {
			t.Errorf("%s: bitfield at bit %d of %d bits", where, pos, n)
		}
		under := obj(t, d["type"], where+":")
		if k := str(under["kind"]); k != "base" && k != "enum" {
			t.Errorf("%s: a bitfield of kind %q", where, k)
		}
		checkTypeDesc(t, d["type"], where+":")
	}
}

func obj(t *testing.T, v any, where string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is %T, want an object", where, v)
	}
	return m
}

func num(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v is %T, want a number", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%v is not an integer", v)
	}
	return i
}

func str(v any) string { s, _ := v.(string); return s }

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
