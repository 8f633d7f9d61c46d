package symbols

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels for errors.Is. Every lookup failure is a *LookupError that
// wraps one of them.
var (
	ErrSymbolNotFound = errors.New("symbol not found")
	ErrTypeNotFound   = errors.New("type not found")
	ErrFieldNotFound  = errors.New("field not found")
	ErrEnumNotFound   = errors.New("enum constant not found")
	ErrBadPath        = errors.New("bad field path")
)

// LookupError says what a lookup could not find and where it looked.
type LookupError struct {
	Err error // one of the sentinels above
	// Query is what the caller asked for: a symbol name, a type name, a
	// field path or "enum.constant".
	Query string
	// Missing is the part that was not found, when narrower than Query:
	// the field name of a path component, or an undefined type a path
	// runs into.
	Missing string
	// In is the type or enum that Missing was looked for in.
	In string
	// Reason explains a path that cannot be walked (e.g. it crosses a
	// pointer).
	Reason string
	Table  Identity
}

func (e *LookupError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "symbols: %s: %v: %q", e.Table, e.Err, e.Query)
	if e.Missing != "" && e.Missing != e.Query {
		fmt.Fprintf(&b, ": no %q", e.Missing)
		if e.In != "" {
			fmt.Fprintf(&b, " in %s", e.In)
		}
	} else if e.In != "" {
		fmt.Fprintf(&b, " in %s", e.In)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	return b.String()
}

func (e *LookupError) Unwrap() error { return e.Err }
