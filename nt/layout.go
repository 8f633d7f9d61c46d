package nt

import (
	"sync"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/translate"
)

// layout answers field, size and address questions from the kernel's
// symbols, remembering the answers: walks ask the same paths per node,
// and symbols' path resolution is not free.
type layout struct {
	sym symbols.Symbols

	mu     sync.Mutex
	fields map[string]fieldAnswer
	sizes  map[string]sizeAnswer
}

type fieldAnswer struct {
	f   symbols.Field
	err error
}

type sizeAnswer struct {
	n   uint64
	err error
}

func newLayout(sym symbols.Symbols) *layout {
	return &layout{sym: sym, fields: map[string]fieldAnswer{}, sizes: map[string]sizeAnswer{}}
}

// field resolves a dotted path such as "_EPROCESS.Pcb.DirectoryTableBase".
func (l *layout) field(path string) (symbols.Field, error) {
	l.mu.Lock()
	a, ok := l.fields[path]
	l.mu.Unlock()
	if ok {
		return a.f, a.err
	}
	f, err := l.sym.Field(path)
	if err != nil {
		err = &SymbolError{Need: "field " + path, Err: err}
	}
	l.mu.Lock()
	l.fields[path] = fieldAnswer{f, err}
	l.mu.Unlock()
	return f, err
}

// has says whether a field exists; optional fields (UserDirectoryTableBase,
// the VPN high bytes) are read only when the build has them.
func (l *layout) has(path string) bool {
	_, err := l.field(path)
	return err == nil
}

// offset is field(path).Offset.
func (l *layout) offset(path string) (uint64, error) {
	f, err := l.field(path)
	return f.Offset, err
}

func (l *layout) size(typ string) (uint64, error) {
	l.mu.Lock()
	a, ok := l.sizes[typ]
	l.mu.Unlock()
	if ok {
		return a.n, a.err
	}
	n, err := l.sym.Size(typ)
	if err != nil {
		err = &SymbolError{Need: "size of " + typ, Err: err}
	}
	l.mu.Lock()
	l.sizes[typ] = sizeAnswer{n, err}
	l.mu.Unlock()
	return n, err
}

// rva is the RVA of a global or function.
func (l *layout) rva(name string) (uint64, error) {
	a, err := l.sym.Address(name)
	if err != nil {
		return 0, &SymbolError{Need: "symbol " + name, Err: err}
	}
	return a, nil
}

// translateSymbols adapts symbols to translate.Symbols, which builds the
// PTE Layout.
type translateSymbols struct{ s symbols.Symbols }

func (a translateSymbols) Field(path string) (translate.Field, bool) {
	f, err := a.s.Field(path)
	if err != nil {
		return translate.Field{}, false
	}
	return translate.Field{Offset: f.Offset, Size: f.Size, Bits: translate.Bits{Pos: uint(f.BitPosition), Len: uint(f.BitLength)}}, true
}

func (a translateSymbols) TypeSize(name string) (uint64, bool) {
	n, err := a.s.Size(name)
	return n, err == nil
}

// NewLayout builds translate's PTE Layout from the kernel's symbols.
func NewLayout(sym symbols.Symbols) (*translate.Layout, error) {
	return translate.NewLayout(translateSymbols{sym})
}
