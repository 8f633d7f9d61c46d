package pdb

import (
	"github.com/frostvmi/frost/symbols"
)

// Symbol record kinds read from the global symbol record stream.
const (
	sPub32   = 0x110e
	sGData32 = 0x110d
	sLData32 = 0x110c
)

// readSymbols adds the publics and global data of the symbol record
// stream to d. Publics give addresses; global data adds a type. Records
// of other kinds are skipped by their length.
func readSymbols(b []byte, am *addressMap, tc *typeConv, d *symbols.Data) error {
	type global struct {
		name string
		typ  uint32
		seg  uint16
		off  uint32
	}
	var globals []global
	r := reader{b: b}
	for r.left() >= 4 {
		at := r.off
		n := int(r.u16())
		if n < 2 || n > r.left() {
			return formatErr("symbol records", "record at %d has length %d, %d bytes remain", at, n, r.left())
		}
		rec := reader{b: r.bytes(n)}
		kind := rec.u16()
		switch kind {
		case sPub32:
			rec.u32() // flags
			off := rec.u32()
			seg := rec.u16()
			name := rec.cstring()
			if rec.err || name == "" {
				continue
			}
			if a, ok := am.rva(seg, off); ok {
				if _, dup := d.Symbols[name]; !dup {
					d.Symbols[name] = symbols.Symbol{Address: a}
				}
			}
		case sGData32, sLData32:
			typ := rec.u32()
			off := rec.u32()
			seg := rec.u16()
			name := rec.cstring()
			if !rec.err && name != "" {
				globals = append(globals, global{name, typ, seg, off})
			}
		}
	}
	// Publics first, so a static with a public's name never displaces it;
	// then globals fill in types and add data that has no public.
	for _, g := range globals {
		a, mapped := am.rva(g.seg, g.off)
		if !mapped {
			continue
		}
		s, ok := d.Symbols[g.name]
		if ok && (s.Type != nil || s.Address != a) {
			continue // typed already, or another object of the same name
		}
		s.Address = a
		if g.typ != 0 {
			s.Type = tc.ref(g.typ)
		}
		d.Symbols[g.name] = s
	}
	return nil
}
