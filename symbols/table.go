package symbols

import (
	"fmt"
	"sort"
)

// Table is the queryable form of a Data: member indexes per type and an
// address-sorted symbol list. It is immutable and safe for concurrent use.
type Table struct {
	data   *Data
	types  map[string]*typeIndex
	byAddr []addrName
}

// typeIndex finds a UserType's members by name without a scan.
type typeIndex struct {
	name   string
	t      *UserType
	byName map[string]int
	// anon lists anonymous struct/union members, searched when a name is
	// not the type's own.
	anon []int
}

type addrName struct {
	addr uint64
	name string
}

// New indexes d. It checks the model's own shape (kinds, nil entries), not
// whether every referenced type exists: a missing type is reported by the
// lookup that needs it.
func New(d *Data) (*Table, error) {
	if d == nil {
		return nil, fmt.Errorf("symbols: nil Data")
	}
	t := &Table{data: d, types: make(map[string]*typeIndex, len(d.UserTypes))}
	for name, ut := range d.UserTypes {
		if ut == nil {
			return nil, fmt.Errorf("symbols: %s: user type %q is nil", d.ID, name)
		}
		if !ut.Kind.IsUserType() {
			return nil, fmt.Errorf("symbols: %s: user type %q has kind %v", d.ID, name, ut.Kind)
		}
		ix := &typeIndex{name: name, t: ut, byName: make(map[string]int, len(ut.Fields))}
		for i := range ut.Fields {
			m := &ut.Fields[i]
			if _, dup := ix.byName[m.Name]; !dup && m.Name != "" {
				ix.byName[m.Name] = i
			}
			if m.Anonymous && m.Type.Kind.IsUserType() {
				ix.anon = append(ix.anon, i)
			}
		}
		t.types[name] = ix
	}
	for name, e := range d.Enums {
		if e == nil {
			return nil, fmt.Errorf("symbols: %s: enum %q is nil", d.ID, name)
		}
	}
	t.byAddr = make([]addrName, 0, len(d.Symbols))
	for name, s := range d.Symbols {
		t.byAddr = append(t.byAddr, addrName{s.Address, name})
	}
	sort.Slice(t.byAddr, func(i, j int) bool {
		a, b := t.byAddr[i], t.byAddr[j]
		if a.addr != b.addr {
			return a.addr < b.addr
		}
		return a.name < b.name
	})
	return t, nil
}

// Data returns the model the table was built from. Callers must not
// change it.
func (t *Table) Data() *Data { return t.data }

// Identity implements Symbols.
func (t *Table) Identity() Identity { return t.data.ID }

// UserType returns a struct, union or class by name.
func (t *Table) UserType(name string) (*UserType, error) {
	ix, ok := t.types[name]
	if !ok {
		return nil, t.notFound(ErrTypeNotFound, name)
	}
	return ix.t, nil
}

// Symbol returns a public symbol or global by name.
func (t *Table) Symbol(name string) (Symbol, error) {
	s, ok := t.data.Symbols[name]
	if !ok {
		return Symbol{}, t.notFound(ErrSymbolNotFound, name)
	}
	return s, nil
}

// Address implements Symbols.
func (t *Table) Address(name string) (uint64, error) {
	s, err := t.Symbol(name)
	return s.Address, err
}

// Size implements Symbols.
func (t *Table) Size(typeName string) (uint64, error) {
	if ix, ok := t.types[typeName]; ok {
		return ix.t.Size, nil
	}
	if e, ok := t.data.Enums[typeName]; ok {
		return e.Size, nil
	}
	if b, ok := t.data.BaseTypes[typeName]; ok {
		return b.Size, nil
	}
	return 0, t.notFound(ErrTypeNotFound, typeName)
}

// EnumValue implements Symbols. An empty enum name looks the constant up
// in every enum, for constants of anonymous enums; it is an error if two
// enums give it different values.
func (t *Table) EnumValue(enum, constant string) (int64, error) {
	if enum == "" {
		return t.anyEnumValue(constant)
	}
	e, ok := t.data.Enums[enum]
	if !ok {
		return 0, &LookupError{Err: ErrEnumNotFound, Query: enum + "." + constant, Missing: enum, Reason: "no such enum", Table: t.data.ID}
	}
	v, ok := e.Constants[constant]
	if !ok {
		return 0, &LookupError{Err: ErrEnumNotFound, Query: enum + "." + constant, Missing: constant, In: enum, Table: t.data.ID}
	}
	return v, nil
}

func (t *Table) notFound(err error, name string) *LookupError {
	return &LookupError{Err: err, Query: name, Table: t.data.ID}
}

func (t *Table) anyEnumValue(constant string) (int64, error) {
	var found []string
	var v int64
	for name, e := range t.data.Enums {
		if c, ok := e.Constants[constant]; ok {
			if len(found) > 0 && c != v {
				found = append(found, name)
				sort.Strings(found)
				return 0, &LookupError{Err: ErrEnumNotFound, Query: constant, Reason: fmt.Sprintf("ambiguous: enums %v give it different values", found), Table: t.data.ID}
			}
			v = c
			found = append(found, name)
		}
	}
	if len(found) == 0 {
		return 0, &LookupError{Err: ErrEnumNotFound, Query: constant, Reason: "in no enum", Table: t.data.ID}
	}
	return v, nil
}
