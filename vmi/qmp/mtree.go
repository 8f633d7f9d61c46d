package qmp

import (
	"fmt"
	"strconv"
	"strings"
)

// FlatView is one "FlatView #n" of `info mtree -f`: the final, flattened
// map of one or more address spaces, as the accelerator sees it.
type FlatView struct {
	Index         int            // n in "FlatView #n"
	AddressSpaces []AddressSpace // the address spaces that render to this view
	Root          string         // the root memory region; "(none)" for an empty view
	Ranges        []Range        // in address order, as QEMU prints them
}

// AddressSpace is an ` AS "name", root: region` line.
type AddressSpace struct {
	Name string // "memory" is the system address space
	Root string
}

// Range is one line of a FlatView: [Start, Last] maps to Region at Offset.
type Range struct {
	Start uint64
	Last  uint64 // inclusive, as QEMU prints it: a range may end at 2^64-1
	// Priority is the region's priority; it says which region won where
	// regions overlapped, and is kept for completeness.
	Priority int
	// Type is "ram", "rom", "ramd", "romd" or "i/o". QEMU prints "rom" for
	// any read-only range, including RAM mapped read-only (the BIOS
	// shadow of the RAM block below 1 MiB).
	Type        string
	NonVolatile bool   // the "nv-" prefix
	Region      string // the memory region: for RAM, its RAM block's name
	// Offset is where Start lies inside Region: the "@offset" QEMU prints
	// (0 when absent). For RAM it is the offset in the RAM block, which is
	// what makes RAM above 4 GiB (an alias) land at a file offset that is
	// not its address.
	Offset uint64
	// Accels lists the accelerators that map the range, e.g. "KVM"; only
	// KVM prints it.
	Accels []string
}

// IsRAM says whether guest reads of the range see RAM block memory: "ram"
// and "rom" (read-only RAM). ROM devices ("romd") and RAM devices
// ("ramd", e.g. a VFIO BAR) are not guest RAM.
func (r Range) IsRAM() bool { return r.Type == "ram" || r.Type == "rom" }

// Len is the range's length, Last-Start+1; 0 stands for 2^64.
func (r Range) Len() uint64 { return r.Last - r.Start + 1 }

// accelNames are the accelerator names QEMU may append to a range line.
// They are fixed strings in QEMU's sources (AccelClass.name with a
// has_memory hook); a region name cannot be told apart from them in
// general, so only these are stripped.
var accelNames = map[string]bool{"KVM": true}

// MemoryTreeError is `info mtree -f` text that cannot be parsed.
type MemoryTreeError struct {
	Line int // 1-based; 0 for the text as a whole
	Text string
	Msg  string
}

func (e *MemoryTreeError) Error() string {
	if e.Line == 0 {
		return "qmp: info mtree -f: " + e.Msg
	}
	return fmt.Sprintf("qmp: info mtree -f: line %d: %s: %q", e.Line, e.Msg, e.Text)
}

// maxMemoryTreeLines bounds the work on a hostile or broken monitor: a
// real PC prints a few hundred lines.
const maxMemoryTreeLines = 1 << 16

// ParseMemoryTree parses the output of HMP `info mtree -f` (QEMU 7.2's
// format). Lines it does not know outside range lines are skipped, so
// additions such as `-d` dispatch dumps do not break it; a line that looks
// like a range but is malformed is an error.
func ParseMemoryTree(text string) ([]FlatView, error) {
	var views []FlatView
	var cur *FlatView
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	if len(lines) > maxMemoryTreeLines {
		return nil, &MemoryTreeError{Msg: fmt.Sprintf("%d lines, more than the %d a machine prints", len(lines), maxMemoryTreeLines)}
	}
	for i, line := range lines {
		lineErr := func(msg string) error { return &MemoryTreeError{Line: i + 1, Text: line, Msg: msg} }
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			continue
		case strings.HasPrefix(trimmed, "FlatView #"):
			n, err := strconv.Atoi(strings.TrimPrefix(trimmed, "FlatView #"))
			if err != nil || n < 0 {
				return nil, lineErr("bad FlatView number")
			}
			views = append(views, FlatView{Index: n})
			cur = &views[len(views)-1]
			continue
		case cur == nil:
			return nil, lineErr("text before the first FlatView")
		}
		switch {
		case strings.HasPrefix(trimmed, "AS \""):
			as, err := parseAddressSpace(trimmed)
			if err != nil {
				return nil, lineErr(err.Error())
			}
			cur.AddressSpaces = append(cur.AddressSpaces, as)
		case strings.HasPrefix(trimmed, "Root memory region: "):
			cur.Root = strings.TrimPrefix(trimmed, "Root memory region: ")
		case looksLikeRange(trimmed):
			r, err := parseRange(trimmed)
			if err != nil {
				return nil, lineErr(err.Error())
			}
			if n := len(cur.Ranges); n > 0 && r.Start <= cur.Ranges[n-1].Last {
				return nil, lineErr("range overlaps or precedes the one before it")
			}
			cur.Ranges = append(cur.Ranges, r)
		}
	}
	if len(views) == 0 {
		return nil, &MemoryTreeError{Msg: "no FlatView in the output"}
	}
	return views, nil
}

// parseAddressSpace parses `AS "memory", root: system`.
func parseAddressSpace(s string) (AddressSpace, error) {
	rest := strings.TrimPrefix(s, "AS \"")
	name, rest, ok := strings.Cut(rest, "\", root: ")
	if !ok {
		return AddressSpace{}, fmt.Errorf("bad address space line")
	}
	return AddressSpace{Name: name, Root: rest}, nil
}

// looksLikeRange says whether s starts like "0000000000000000-": a hex
// digit run and a dash.
func looksLikeRange(s string) bool {
	i := 0
	for i < len(s) && isHex(s[i]) {
		i++
	}
	return i > 0 && i < len(s) && s[i] == '-'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parseRange parses
// `0000000100000000-000000017fffffff (prio 0, ram): mem @00000000c0000000 KVM`.
func parseRange(s string) (Range, error) {
	var r Range
	span, rest, ok := strings.Cut(s, " (prio ")
	if !ok {
		return r, fmt.Errorf("no \"(prio\"")
	}
	lo, hi, ok := strings.Cut(span, "-")
	if !ok {
		return r, fmt.Errorf("no range")
	}
	var err error
	if r.Start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return r, fmt.Errorf("bad start address")
	}
	if r.Last, err = strconv.ParseUint(hi, 16, 64); err != nil {
		return r, fmt.Errorf("bad end address")
	}
	if r.Last < r.Start {
		return r, fmt.Errorf("range ends before it starts")
	}
	attrs, name, ok := strings.Cut(rest, "): ")
	if !ok {
		// An anonymous region prints nothing after the colon.
		if attrs, ok = strings.CutSuffix(rest, "):"); !ok {
			return r, fmt.Errorf("no \"):\" after the attributes")
		}
	}
	prio, typ, ok := strings.Cut(attrs, ", ")
	if !ok {
		return r, fmt.Errorf("no region type")
	}
	if r.Priority, err = strconv.Atoi(prio); err != nil {
		return r, fmt.Errorf("bad priority")
	}
	typ, r.NonVolatile = strings.CutPrefix(typ, "nv-")
	switch typ {
	case "ram", "rom", "ramd", "romd", "i/o":
		r.Type = typ
	default:
		return r, fmt.Errorf("unknown region type %q", typ)
	}
	r.Region, r.Offset, r.Accels, err = parseRegionTail(name)
	return r, err
}

// parseRegionTail splits "mem @00000000c0000000 KVM" into the region
// name, the offset and the accelerators. Region names may hold spaces
// ("vga ioports remapped"), so both suffixes are taken from the right.
func parseRegionTail(s string) (name string, off uint64, accels []string, err error) {
	for {
		i := strings.LastIndexByte(s, ' ')
		if i < 0 || !accelNames[s[i+1:]] {
			break
		}
		accels = append([]string{s[i+1:]}, accels...)
		s = s[:i]
	}
	if i := strings.LastIndex(s, " @"); i >= 0 && looksLikeHex(s[i+2:]) {
		if off, err = strconv.ParseUint(s[i+2:], 16, 64); err != nil {
			return "", 0, nil, fmt.Errorf("bad region offset")
		}
		s = s[:i]
	}
	return s, off, accels, nil
}

func looksLikeHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// SystemView picks the FlatView of guest-physical memory: the one that
// renders the "memory" address space (root "system"). QEMU numbers views
// in no fixed order (under TCG, the SMM view may come first; under KVM,
// view #0 may be empty), so it is found by name. Failing that, the first
// non-empty view with RAM is taken.
func SystemView(views []FlatView) (*FlatView, error) {
	for i := range views {
		for _, as := range views[i].AddressSpaces {
			if as.Name == "memory" && len(views[i].Ranges) > 0 {
				return &views[i], nil
			}
		}
	}
	for i := range views {
		for _, r := range views[i].Ranges {
			if r.Type == "ram" {
				return &views[i], nil
			}
		}
	}
	return nil, &MemoryTreeError{Msg: "no FlatView renders the system address space or holds RAM"}
}

// Lookup returns the range holding addr, if any.
func (v *FlatView) Lookup(addr uint64) (Range, bool) {
	lo, hi := 0, len(v.Ranges)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if v.Ranges[mid].Last < addr {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(v.Ranges) && v.Ranges[lo].Start <= addr {
		return v.Ranges[lo], true
	}
	return Range{}, false
}
