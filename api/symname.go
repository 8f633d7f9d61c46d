package api

import (
	"strconv"
	"strings"
)

// symbolName is "module!name+0xoff" taken apart. A bare name has no module
// (the kernel, "nt", is meant).
type symbolName struct {
	Module, Name string
	Offset       uint64
}

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
