package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/spf13/pflag"
)

// multi is a repeatable string flag (--process a --process b).
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }
func (m *multi) Type() string       { return "strings" }

// idFlag is a process or thread id, or a vCPU index: decimal, or hex with
// 0x, read as 64 bits so that a value past 32 bits is refused by name
// rather than wrapped (pid 4294967384 once read as pid 88).
type idFlag struct {
	name string
	v    uint64
	set  bool
}

func newIDFlag(fs *pflag.FlagSet, name, usage string) *idFlag {
	f := &idFlag{name: "--" + name}
	fs.Var(f, name, usage)
	return f
}

func (f *idFlag) String() string {
	if !f.set {
		return ""
	}
	return fmt.Sprint(f.v)
}

func (f *idFlag) Set(s string) error {
	v, err := parseUint(f.name, s)
	if err != nil {
		return err
	}
	f.v, f.set = v, true
	return nil
}

func (f *idFlag) Type() string { return "id" }

// u32 is the value as frostd's API carries it (32 bits, as Windows' pids
// and tids are); a larger value is an error, never truncated.
func (f *idFlag) u32() (uint32, error) { return idU32(f.name, f.v) }

func idU32(name string, v uint64) (uint32, error) {
	if v > math.MaxUint32 {
		return 0, fmt.Errorf("%s %d: too large (frostd's API carries 32 bits, as Windows' pids and tids and vCPU indexes are)", name, v)
	}
	return uint32(v), nil
}
