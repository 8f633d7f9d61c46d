package minint

import (
	"fmt"
	"strconv"
)

// UserProcess is what the report states about one user process's
// user-mode environment (events peb, ldr-module, environment, env, teb),
// as the kernel built it at process creation.
type UserProcess struct {
	PID                        uint64
	PEB, Ldr, Params           uint64
	ImageBase                  uint64
	Image, CommandLine, CurDir string
	Modules                    []LdrModule // load order: the exe first, then ntdll.dll
	EnvironmentAddress         uint64
	EnvironmentSize            uint64
	Environment                []EnvVar // in block order
	TEBs                       []TEB
}

// LdrModule is one ldr-module event: an entry of the PEB loader lists.
type LdrModule struct {
	Base, Size, Entry uint64
	Name, FullName    string
}

// EnvVar is one env event.
type EnvVar struct{ Name, Value string }

// TEB is one teb event.
type TEB struct {
	TID, Address          uint64
	StackBase, StackLimit uint64
}

// UserProcesses collects the user-mode environment of every process the
// report describes, by pid. Events that contradict each other (a module
// index out of order, a count that does not match, an event for a pid
// without its peb event) are errors.
func (r Report) UserProcesses() (map[uint64]*UserProcess, error) {
	out := map[uint64]*UserProcess{}
	var first error
	fail := func(e Event, format string, args ...any) {
		if first == nil {
			first = fmt.Errorf("minint: %s event %q: %s", e.Name, e.Line, fmt.Sprintf(format, args...))
		}
	}
	uints := func(e Event, keys ...string) ([]uint64, bool) {
		vals := make([]uint64, len(keys))
		for i, k := range keys {
			v, err := e.Uint(k)
			if err != nil {
				if first == nil {
					first = err
				}
				return nil, false
			}
			vals[i] = v
		}
		return vals, true
	}
	proc := func(e Event) *UserProcess {
		pid, err := e.Uint("pid")
		if err != nil {
			if first == nil {
				first = err
			}
			return nil
		}
		p := out[pid]
		if p == nil && e.Name != "peb" {
			fail(e, "no peb event before it")
		}
		return p
	}
	for _, e := range r {
		switch e.Name {
		case "peb":
			v, ok := uints(e, "pid", "peb", "ldr", "params", "image-base")
			if !ok {
				continue
			}
			if out[v[0]] != nil {
				fail(e, "a second peb event for pid %d", v[0])
				continue
			}
			out[v[0]] = &UserProcess{PID: v[0], PEB: v[1], Ldr: v[2], Params: v[3], ImageBase: v[4],
				Image: e.Get("image"), CommandLine: e.Get("cmdline"), CurDir: e.Get("cwd")}
		case "ldr-module":
			p := proc(e)
			v, ok := uints(e, "index", "base", "size", "entry")
			if p == nil || !ok {
				continue
			}
			if v[0] != uint64(len(p.Modules)) {
				fail(e, "index %d, want %d", v[0], len(p.Modules))
				continue
			}
			p.Modules = append(p.Modules, LdrModule{Base: v[1], Size: v[2], Entry: v[3], Name: e.Get("name"), FullName: e.Get("full")})
		case "environment":
			p := proc(e)
			v, ok := uints(e, "address", "size")
			if p == nil || !ok {
				continue
			}
			p.EnvironmentAddress, p.EnvironmentSize = v[0], v[1]
		case "env":
			if p := proc(e); p != nil {
				p.Environment = append(p.Environment, EnvVar{Name: e.Get("name"), Value: e.Get("value")})
			}
		case "teb":
			p := proc(e)
			v, ok := uints(e, "tid", "teb", "stack-base", "stack-limit")
			if p == nil || !ok {
				continue
			}
			p.TEBs = append(p.TEBs, TEB{TID: v[0], Address: v[1], StackBase: v[2], StackLimit: v[3]})
		}
	}
	if first != nil {
		return out, first
	}
	for _, e := range r.All("peb") {
		pid, _ := e.Uint("pid")
		want, err := strconv.Atoi(e.Get("modules"))
		if err != nil || want != len(out[pid].Modules) {
			return out, fmt.Errorf("minint: pid %d: %d ldr-module events, the peb event says modules=%s", pid, len(out[pid].Modules), e.Get("modules"))
		}
	}
	return out, nil
}
