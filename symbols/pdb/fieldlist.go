package pdb

import (
	"fmt"

	"github.com/frostvmi/frost/symbols"
)

// Field list member kinds that carry no layout but must be stepped over.
const (
	lfFriendCls    = 0x140b
	lfFriendFcn    = 0x150c
	lfNestTypeEx   = 0x1512
	lfMemberModify = 0x1513
)

// walkFieldList calls visit for each entry of the field list ti and of the
// lists its LF_INDEX entries continue into. visit reads the entry's body
// and returns false for a kind it does not know; the walk of that list
// stops there, since field list entries carry no length to skip by.
func (c *typeConv) walkFieldList(owner, ti uint32, visit func(kind uint16, r *reader) bool) {
	seen := map[uint32]bool{}
	for ti != 0 && !seen[ti] {
		seen[ti] = true
		rec, ok := c.record(ti)
		if !ok || rec.kind != lfFieldList {
			if ti >= c.begin {
				c.note("type %#x: field list %#x is not an LF_FIELDLIST", owner, ti)
			}
			return
		}
		next := uint32(0)
		r := reader{b: rec.data}
		for {
			// Entries are padded to 4 bytes with LF_PAD bytes (0xf0..0xff),
			// which no leaf kind's low byte can be.
			for r.left() > 0 && r.b[r.off] >= lfPadMinimum {
				r.off++
			}
			if r.left() < 2 {
				break
			}
			at := r.off
			kind := r.u16()
			if c.members <= 0 {
				c.note("type %#x: the member budget is spent; the rest of the list is skipped", owner)
				return
			}
			if kind == lfIndex {
				r.u16()
				next = r.u32()
			} else if c.members--; !visit(kind, &r) {
				c.note("type %#x: field list %#x: unknown entry %#x at %d; the rest of the list is skipped", owner, ti, kind, at)
				break
			}
			if r.err {
				c.note("type %#x: field list %#x: entry %#x at %d is truncated", owner, ti, kind, at)
				break
			}
		}
		ti = next
	}
}

// skipEntry steps over the field list entries that do not place data.
func skipEntry(kind uint16, r *reader) bool {
	switch kind {
	case lfVBClass, lfIVBClass:
		r.u16()
		r.u32()
		r.u32()
		r.unsignedNumeric()
		r.unsignedNumeric()
	case lfVFuncTab, lfFriendCls:
		r.u16()
		r.u32()
	case lfSTMember, lfNestType, lfNestTypeEx, lfMemberModify, lfFriendFcn:
		r.u16()
		r.u32()
		r.cstring()
	case lfMethod:
		r.u16()
		r.u32()
		r.cstring()
	case lfOneMethod:
		attr := r.u16()
		r.u32()
		// Introducing virtual methods carry their vtable offset.
		if mprop := (attr >> 2) & 7; mprop == 4 || mprop == 6 {
			r.u32()
		}
		r.cstring()
	case lfEnumerate:
		r.u16()
		r.numeric()
		r.cstring()
	default:
		return false
	}
	return true
}

// fields reads the data members of a struct, class or union definition.
func (c *typeConv) fields(ti uint32, h *udtHeader) []symbols.Member {
	var out []symbols.Member
	anon := 0
	c.walkFieldList(ti, h.fieldList, func(kind uint16, r *reader) bool {
		switch kind {
		case lfMember:
			r.u16() // attributes
			typ := r.u32()
			off, _ := r.unsignedNumeric()
			name := r.cstring()
			if r.err {
				return true
			}
			m := symbols.Member{Name: name, Offset: off, Type: *c.ref(typ)}
			if t := &m.Type; t.Kind == symbols.KindBitfield {
				// Bits must lie inside their storage unit (128 bits at
				// most, as ISF allows); a member that says otherwise is
				// dropped rather than passed on.
				storage := min(8*c.size(t.Sub), 128)
				if t.BitLength == 0 || uint64(t.BitPosition)+uint64(t.BitLength) > storage {
					c.note("type %#x: member %q: %d bits at bit %d of a %d-bit unit; skipped", ti, name, t.BitLength, t.BitPosition, storage)
					return true
				}
			}
			if name == "" {
				// Compilers flatten anonymous members into the parent; one
				// left unnamed is still reachable through its members.
				m.Name = fmt.Sprintf("__unnamed_field_%d", anon)
				m.Anonymous = m.Type.Kind.IsUserType()
				anon++
			}
			out = append(out, m)
		case lfBClass:
			r.u16()
			typ := r.u32()
			off, _ := r.unsignedNumeric()
			if r.err {
				return true
			}
			ref := c.ref(typ)
			// A base class's members read as the derived class's own.
			out = append(out, symbols.Member{Name: "__base_" + ref.Name, Offset: off, Type: *ref, Anonymous: ref.Kind.IsUserType()})
		default:
			return skipEntry(kind, r)
		}
		return true
	})
	return out
}

// enumeration reads an enum definition's constants.
func (c *typeConv) enumeration(h *udtHeader) *symbols.Enum {
	under := c.ref(h.utype)
	if under.Kind != symbols.KindBase {
		under = c.simple(0x74) // int, as C would have it
	}
	e := &symbols.Enum{Base: under.Name, Size: c.size(under), Constants: map[string]int64{}}
	c.walkFieldList(h.fieldList, h.fieldList, func(kind uint16, r *reader) bool {
		if kind != lfEnumerate {
			return skipEntry(kind, r)
		}
		r.u16()
		v, _, ok := r.numeric()
		name := r.cstring()
		if ok && !r.err {
			if _, dup := e.Constants[name]; !dup {
				e.Constants[name] = fitEnum(v, e.Size, c.d.BaseTypes[e.Base].Signed)
			}
		} else {
			r.err = true
		}
		return true
	})
	return e
}

// fitEnum reads an enumerator at its enum's width. Some compilers (clang
// before 15) store every enumerator unsigned, so -5 in an int enum
// arrives as 0xfffffffb; in memory both are the same four bytes.
func fitEnum(v int64, size uint64, signed bool) int64 {
	if size == 0 || size >= 8 {
		return v
	}
	shift := 64 - 8*size
	if signed {
		return v << shift >> shift
	}
	return int64(uint64(v) << shift >> shift)
}
