package isf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/ulikunitz/xz"
)

const minimal = `{"metadata":{"format":"6.1.0","windows":{"pdb":{"GUID":"606FF669409B00F7FC8C61A9C1670129","age":26,"database":"x.pdb","machine_type":34404}}},
"base_types":{"unsigned long":{"kind":"int","size":4,"signed":false,"endian":"little"},"pointer":{"kind":"int","size":8,"signed":false,"endian":"little"}},
"user_types":{"_A":{"kind":"struct","size":16,"fields":{"Flags":{"offset":8,"type":{"kind":"bitfield","bit_position":3,"bit_length":2,"type":{"kind":"base","name":"unsigned long"}}},
"Anon":{"offset":4,"anonymous":true,"type":{"kind":"union","name":"_U"}}, "Esc\u00e9":{"offset":0,"type":{"kind":"pointer","subtype":{"kind":"function"}}}}},
"_U":{"kind":"union","size":4,"fields":{"Inner":{"offset":0,"type":{"kind":"base","name":"unsigned long"}}}}},
"enums":{"E":{"base":"unsigned long","size":4,"constants":{"A":-1,"B":18446744073709551615}}},
"symbols":{"S":{"address":4096},"F":{"address":8192.0,"type":{"kind":"struct","name":"_A"}}}}`

func TestMinimal(t *testing.T) {
	tab, err := Read(strings.NewReader(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if id := tab.Identity(); id.Age != 26 || id.PDBKey() != "606FF669409B00F7FC8C61A9C16701291A" || id.ISFKey() != "606FF669409B00F7FC8C61A9C1670129-26" {
		t.Errorf("identity %s: keys %s %s", id, id.PDBKey(), id.ISFKey())
	}
	f, err := tab.Field("_A.Flags")
	if err != nil || f.Offset != 8 || f.BitPosition != 3 || f.BitLength != 2 || f.Size != 4 || f.Extract(0b11000) != 3 {
		t.Errorf("_A.Flags = %+v, %v", f, err)
	}
	// An anonymous member: reached through, and by its own name.
	for _, p := range []string{"_A.Inner", "_A.Anon.Inner"} {
		if f, err := tab.Field(p); err != nil || f.Offset != 4 {
			t.Errorf("Field(%s) = %+v, %v", p, f, err)
		}
	}
	if f, err := tab.Field("_A.Escé"); err != nil || f.Kind != symbols.KindPointer || f.Type.Sub.Kind != symbols.KindFunction {
		t.Errorf("escaped name: %+v, %v", f, err)
	}
	if v, err := tab.EnumValue("E", "B"); err != nil || v != -1 {
		t.Errorf("E.B = %d, %v", v, err)
	}
	if a, err := tab.Address("F"); err != nil || a != 8192 {
		t.Errorf("F at %d, %v", a, err)
	}
	id, err := ReadIdentity(strings.NewReader(minimal))
	if err != nil || id != tab.Identity() {
		t.Errorf("ReadIdentity = %s, %v", id, err)
	}
	// Errors name what was missing.
	_, err = tab.Field("_A.Nope")
	var le *symbols.LookupError
	if !errors.As(err, &le) || !errors.Is(err, symbols.ErrFieldNotFound) || le.Missing != "Nope" || le.In != "_A" {
		t.Errorf("missing field: %v", err)
	}
	if !strings.Contains(err.Error(), `"Nope"`) || !strings.Contains(err.Error(), "_A") {
		t.Errorf("the message does not name the field: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":            ``,
		"not json":         `{"metadata":`,
		"trailing":         minimal + `x`,
		"array top":        `[]`,
		"no symbols":       `{"metadata":{"format":"6.1.0"},"base_types":{},"user_types":{},"enums":{}}`,
		"format 7":         strings.Replace(minimal, `"6.1.0"`, `"7.0.0"`, 1),
		"bad guid":         strings.Replace(minimal, `606FF669409B00F7FC8C61A9C1670129`, `XYZ`, 1),
		"bad kind":         strings.Replace(minimal, `"kind":"struct","size":16`, `"kind":"blob","size":16`, 1),
		"bad type kind":    strings.Replace(minimal, `{"kind":"function"}`, `{"kind":"lambda"}`, 1),
		"pointer no sub":   strings.Replace(minimal, `{"kind":"pointer","subtype":{"kind":"function"}}`, `{"kind":"pointer"}`, 1),
		"bitfield no len":  strings.Replace(minimal, `"bit_length":2,`, ``, 1),
		"bitfield of ptr":  strings.Replace(minimal, `"type":{"kind":"base","name":"unsigned long"}}}`, `"type":{"kind":"pointer","subtype":{"kind":"function"}}}}`, 1),
		"array no count":   strings.Replace(minimal, `{"kind":"function"}`, `{"kind":"array","subtype":{"kind":"function"}}`, 1),
		"negative offset":  strings.Replace(minimal, `"offset":8`, `"offset":-8`, 1),
		"float offset":     strings.Replace(minimal, `"offset":8`, `"offset":8.5`, 1),
		"bad address":      strings.Replace(minimal, `"address":4096`, `"address":"x"`, 1),
		"fraction address": strings.Replace(minimal, `"address":4096`, `"address":1.5`, 1),
		"huge constant":    strings.Replace(minimal, `"A":-1`, `"A":1e30`, 1),
		"bad escape":       strings.Replace(minimal, `\u00e9`, `\x`, 1),
		"control char":     strings.Replace(minimal, `Esc`, "E\x01", 1),
		"bad utf8":         strings.Replace(minimal, `Esc`, "E\xff", 1),
		"deep":             `{"metadata":` + strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200) + `}`,
		"deep type":        strings.Replace(minimal, `{"kind":"function"}`, strings.Repeat(`{"kind":"pointer","subtype":`, 100)+`{"kind":"function"}`+strings.Repeat(`}`, 100), 1),
		"no user kind":     strings.Replace(minimal, `"kind":"union","size":4,`, `"size":4,`, 1),
		"leading zero":     strings.Replace(minimal, `"address":4096`, `"address":04096`, 1),
		"age too big":      strings.Replace(minimal, `"age":26`, `"age":4294967296`, 1),
	} {
		_, err := Read(strings.NewReader(doc))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v is not ErrFormat", name, err)
		}
	}
}

func xzOf(t *testing.T, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestXZBounds checks that a compressed file is refused before decoding
// when it would make the decoder allocate past the stated bounds.
func TestXZBounds(t *testing.T) {
	good := xzOf(t, minimal)
	if _, err := Read(bytes.NewReader(good)); err != nil {
		t.Fatalf("a good .xz: %v", err)
	}

	// A block header asking for a 4 GiB dictionary.
	huge := append([]byte(nil), good...)
	hdr := huge[12:]
	size := (int(hdr[0]) + 1) * 4
	p := 2
	flags := hdr[1]
	for _, present := range []byte{0x40, 0x80} {
		if flags&present != 0 {
			for hdr[p]&0x80 != 0 {
				p++
			}
			p++
		}
	}
	if hdr[p] != 0x21 || hdr[p+1] != 1 {
		t.Fatalf("the writer's first filter is %#x with %d props, not LZMA2", hdr[p], hdr[p+1])
	}
	hdr[p+2] = 40
	binary.LittleEndian.PutUint32(hdr[size-4:], crc32.ChecksumIEEE(hdr[:size-4]))
	if _, err := Read(bytes.NewReader(huge)); err == nil || !strings.Contains(err.Error(), "dictionary") {
		t.Errorf("a 4 GiB dictionary: %v", err)
	}

	// An index claiming more output than MaxSize.
	if _, err := checkXZ(good, MaxDict, uint64(len(minimal))-1); err == nil {
		t.Error("an uncompressed size over the limit was accepted")
	}
	// Truncations and concatenated streams are refused, not decoded.
	for _, b := range [][]byte{good[:len(good)-1], good[:20], append(append([]byte(nil), good...), good...)} {
		if _, err := Read(bytes.NewReader(b)); err == nil {
			t.Errorf("%d bytes of xz accepted", len(b))
		}
	}
}
