package translate

import (
	"fmt"
	"strings"
)

// Space is where an entry or structure was read from.
type Space uint8

const (
	SpacePhysical Space = iota // guest-physical memory
	SpacePagefile              // a paging file
	SpaceZero                  // a demand-zero page: reads as zeros
	SpaceFile                  // a mapped file
	SpaceVirtual               // a virtual address, where its own translation failed
)

// Where locates an entry: a physical address, or an offset in a paging
// file or a mapped file.
type Where struct {
	Space    Space
	Pagefile uint64 // SpacePagefile: its number
	Addr     uint64
}

func (w Where) plus(off uint64) Where {
	if w.Space != SpaceZero {
		w.Addr += off
	}
	return w
}

func (w Where) String() string {
	switch w.Space {
	case SpacePhysical:
		return fmt.Sprintf("0x%x", w.Addr)
	case SpacePagefile:
		return fmt.Sprintf("pagefile %d @ 0x%x", w.Pagefile, w.Addr)
	case SpaceZero:
		return "demand-zero page"
	case SpaceFile:
		return fmt.Sprintf("file @ 0x%x", w.Addr)
	case SpaceVirtual:
		return fmt.Sprintf("VA 0x%x", w.Addr)
	}
	return fmt.Sprintf("Space(%d) @ 0x%x", w.Space, w.Addr)
}

// Level names a step of a translation.
type Level uint8

const (
	LevelVirtual    Level = iota // a walk starts: the VA and its DTB
	LevelPML4E                   // page-map level-4 entry
	LevelPDPTE                   // page-directory-pointer entry
	LevelPDE                     // page-directory entry
	LevelPTE                     // page-table entry
	LevelPrototype               // a prototype PTE, read through a nested walk of its kernel VA
	LevelVAD                     // the VAD was consulted
	LevelSubsection              // a _SUBSECTION was read
	LevelResult                  // the walk's answer
)

var levelNames = [...]string{
	LevelVirtual: "virtual", LevelPML4E: "pml4e", LevelPDPTE: "pdpte", LevelPDE: "pde", LevelPTE: "pte",
	LevelPrototype: "proto", LevelVAD: "vad", LevelSubsection: "subsection", LevelResult: "result",
}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("Level(%d)", uint8(l))
}

// Step is one step of a translation. Entry steps (pml4e … pte, proto) carry
// the entry; the others carry a Note.
type Step struct {
	Depth int    // 0: the VA asked for; 1, 2: walks of kernel VAs it needed
	Level Level  //
	VA    uint64 // the VA this step serves; for proto, the prototype PTE's kernel VA
	At    Where  // where the entry was read

	Raw         uint64 // the entry as stored
	Value       uint64 // Raw with the swizzle mask removed
	Cleared     uint64 // the mask bits removed (0: none)
	SwizzleKept bool   // SwizzleBit set: the mask bits are part of the value
	Kind        Kind   // decoded state
	Fields      string // decoded fields, e.g. "PFN 0x891f Protection 3 (ExecuteRead)"
	Next        string // what the next step reads

	Note string
}

// Provenance is a translation with its steps.
type Provenance struct {
	VA, DTB  uint64
	Steps    []Step
	Location Location
	Err      error
	Smear    bool // the guest was running: the steps may be from different moments
	Model    Model
}

// String renders the steps like Rekall's vtop: "pte@ 0x… = 0x…" per entry,
// the decoded entry under it, nested walks indented.
func (p *Provenance) String() string {
	var b strings.Builder
	for i := range p.Steps {
		p.Steps[i].render(&b, p.Model)
	}
	return b.String()
}

var kindStructs = [...]string{
	KindValid: "_MMPTE_HARDWARE", KindTransition: "_MMPTE_TRANSITION", KindPagefile: "_MMPTE_SOFTWARE",
	KindDemandZero: "_MMPTE_SOFTWARE", KindDecommitted: "_MMPTE_SOFTWARE", KindZero: "_MMPTE_SOFTWARE",
	KindPrototype: "_MMPTE_PROTOTYPE", KindVADPrototype: "_MMPTE_PROTOTYPE", KindSubsection: "_MMPTE_SUBSECTION",
}

func (s *Step) render(b *strings.Builder, m Model) {
	indent := strings.Repeat("    ", s.Depth)
	switch s.Level {
	case LevelPML4E, LevelPDPTE, LevelPDE, LevelPTE, LevelPrototype:
	default:
		fmt.Fprintf(b, "%s%s\n", indent, s.Note)
		return
	}
	fmt.Fprintf(b, "%s%s@ %s = 0x%016x", indent, s.Level, s.At, s.Raw)
	if s.Level == LevelPrototype {
		fmt.Fprintf(b, " (kernel VA 0x%x)", s.VA)
	}
	b.WriteByte('\n')
	switch {
	case s.Cleared != 0:
		fmt.Fprintf(b, "%s  swizzle mask 0x%x removed: 0x%016x\n", indent, s.Cleared, s.Value)
	case s.SwizzleKept:
		fmt.Fprintf(b, "%s  SwizzleBit set: mask bits kept\n", indent)
	}
	st := m.String() // a hardware entry has no Windows structure
	if m == ModelWindows && int(s.Kind) < len(kindStructs) {
		st = kindStructs[s.Kind]
	}
	fmt.Fprintf(b, "%s  [%s] %s", indent, st, s.Kind)
	if s.Fields != "" {
		fmt.Fprintf(b, " %s", s.Fields)
	}
	if s.Next != "" {
		fmt.Fprintf(b, " -> %s", s.Next)
	}
	b.WriteByte('\n')
}

// resultNote is the last line of a walk, in Rekall's words where it has them.
func resultNote(l Location, err error) string {
	if err != nil {
		return "Invalid: " + err.Error()
	}
	switch l.State {
	case StateValid:
		return fmt.Sprintf("Physical Address 0x%x", l.Addr)
	case StateTransition:
		return fmt.Sprintf("Physical Address 0x%x (transition)", l.Addr)
	case StatePagefile:
		return fmt.Sprintf("Pagefile (%d) @ 0x%x", l.Pagefile, l.Addr)
	case StateCompressed:
		return fmt.Sprintf("Pagefile (%d) @ 0x%x is the virtual store: compressed, not decoded", l.Pagefile, l.Addr)
	case StateDemandZero:
		return "Demand Zero"
	case StateDecommitted:
		return "Decommitted"
	case StateReserved:
		return "Reserved, not committed"
	case StateNotMapped:
		return "Not mapped"
	case StateFile:
		return "File Mapping " + strings.TrimPrefix(l.String(), "File Mapping ")
	}
	return l.State.String()
}

// Recording. Each helper is a no-op unless provenance was asked for, and
// callers guard anything costly behind w.steps != nil.

func (w *walker) add(s Step) int {
	if w.steps == nil {
		return -1
	}
	s.Depth = w.depth
	*w.steps = append(*w.steps, s)
	return len(*w.steps) - 1
}

func (w *walker) note(level Level, va uint64, format string, args ...any) {
	if w.steps == nil {
		return
	}
	w.add(Step{Level: level, VA: va, Note: fmt.Sprintf(format, args...)})
}

func (w *walker) entryStep(level Level, va uint64, at Where, e *entry) int {
	if w.steps == nil {
		return -1
	}
	return w.add(Step{
		Level: level, VA: va, At: at,
		Raw: e.raw, Value: e.value, Cleared: e.cleared,
		SwizzleKept: e.cleared == 0 && e.raw&w.t.dec.valid == 0 && e.raw&w.t.dec.swizzleBit != 0 && w.t.dec.mask != 0,
		Kind:        e.kind, Fields: e.fields(),
	})
}

func (w *walker) setNext(i int, next func() string) {
	if w.steps == nil || i < 0 {
		return
	}
	(*w.steps)[i].Next = next()
}
