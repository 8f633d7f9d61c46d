package symbols

// Symbols answers the questions Frost asks about one module's build. Both
// the PDB and the ISF readers return a *Table, which implements it.
type Symbols interface {
	// Identity is the GUID, age and PDB name the symbols were built for.
	Identity() Identity
	// Address returns the RVA of a public symbol or global.
	Address(name string) (uint64, error)
	// Nearest returns the symbol at or below rva and rva's distance from
	// it, for "module!symbol+0xoff" (see Describe).
	Nearest(rva uint64) (name string, offset uint64, err error)
	// Field resolves a dotted field path rooted at a type name.
	Field(path string) (Field, error)
	// Size returns the size in bytes of a named type: a struct, union,
	// class, enum or base type ("pointer" included).
	Size(typeName string) (uint64, error)
	// EnumValue returns the value of a constant of a named enum; an empty
	// enum name searches every enum (anonymous enums have made-up names).
	EnumValue(enum, constant string) (int64, error)
}

var _ Symbols = (*Table)(nil)
