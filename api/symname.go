package api

import (
	"strconv"
	"strings"

	"github.com/frostvmi/frost/symbols/pe"
)

// symbolName is "module!name+0xoff" taken apart. A bare name has no module
// (the kernel, "nt", is meant).
type symbolName struct {
	Module, Name string
	Offset       uint64
}

// maxSymbolOffset bounds the offset in "name+0xoff": no image is larger.
const maxSymbolOffset = pe.MaxImageSize

func parseSymbolName(s string) (symbolName, error) {
	var out symbolName
	s = strings.TrimSpace(s)
	if mod, rest, ok := strings.Cut(s, "!"); ok {
		out.Module, s = mod, rest
		if mod == "" {
			return out, invalid("symbol", "%q: empty module before '!'", s)
		}
	}
	if name, off, ok := strings.Cut(s, "+"); ok {
		v, err := strconv.ParseUint(strings.TrimSpace(off), 0, 64)
		if err != nil {
			return out, invalid("symbol", "offset %q: want a number such as 0x1c", off)
		}
		// A larger offset leaves any module; refusing it here also keeps
		// every caller's symbol+offset from wrapping.
		if v >= maxSymbolOffset {
			return out, invalid("symbol", "offset %#x: past the end of any module (at most %#x)", v, maxSymbolOffset-1)
		}
		s, out.Offset = name, v
	}
	out.Name = strings.TrimSpace(s)
	if out.Name == "" {
		return out, invalid("symbol", "no symbol name")
	}
	return out, nil
}

func (n symbolName) module() string {
	if n.Module == "" {
		return "nt"
	}
	return n.Module
}

func (n symbolName) String() string {
	return n.module() + "!" + n.Name
}

// at is the address name+Offset names, given where name lies and the
// module holding it (base, size; size 0: not known). The offset comes
// from the client: it must neither wrap around the address space nor
// leave the module, or a breakpoint would be armed somewhere unrelated
// (mid-instruction in another function, or in no module at all).
func (n symbolName) at(symAddr, base, size uint64) (uint64, error) {
	addr := symAddr + n.Offset
	if addr < symAddr {
		return 0, invalid("symbol", "%s+%#x: the offset wraps past the end of the address space", n.String(), n.Offset)
	}
	if size != 0 && (symAddr < base || addr-base >= size) {
		return 0, invalid("symbol", "%s+%#x: the offset leaves the module (%#x bytes from its base %#x)", n.String(), n.Offset, size, base)
	}
	return addr, nil
}
