package translate

import (
	"cmp"
	"fmt"
	"strings"
)

// Model is how a Translator reads the entries it walks.
type Model uint8

const (
	// ModelWindows decodes every entry as Windows' memory manager does:
	// the hardware's valid entries, and the software states of invalid
	// ones (transition, paging file, prototype, ...), from a Layout built
	// from the kernel's symbols.
	ModelWindows Model = iota
	// ModelX86 is the processor's own walk and nothing more: a present
	// entry maps (4K, 2M, 1G), a non-present one maps nothing. It needs no
	// symbols, so it serves any x86-64 guest; what an OS keeps in its
	// non-present entries (swap slots, Windows' software PTEs) is not
	// decoded.
	ModelX86
)

func (m Model) String() string {
	switch m {
	case ModelWindows:
		return "windows"
	case ModelX86:
		return "x86-64"
	}
	return fmt.Sprintf("Model(%d)", uint8(m))
}

// HardwareConfig is what a hardware-only Translator reads from.
type HardwareConfig struct {
	Physical Physical // guest-physical memory
	// PhysicalBits is the guest's MAXPHYADDR: entries' address fields use
	// bits 12 to PhysicalBits-1, and the bits above, up to 62, are the
	// OS's to use. 0 means 52, the architecture's limit; a larger value is
	// never wrong for the entries an OS writes (it keeps the bits above
	// MAXPHYADDR clear in present entries), only less strict.
	PhysicalBits uint
	// As in Config.
	TLBEntries      int
	TableCachePages int
}

// maxPhysicalBits is the architectural MAXPHYADDR limit.
const maxPhysicalBits = 52

// NewHardware makes a Translator that walks page tables as the processor
// does (ModelX86), for guests whose kernel Frost has no symbols for.
func NewHardware(cfg HardwareConfig) (*Translator, error) {
	bits := cmp.Or(cfg.PhysicalBits, maxPhysicalBits)
	if bits <= pageShift || bits > maxPhysicalBits {
		return nil, &ConfigError{Reason: fmt.Sprintf("%d physical-address bits: x86-64 has %d to %d", cfg.PhysicalBits, pageShift+1, maxPhysicalBits)}
	}
	l := &Layout{
		Valid:           Bits{Pos: 0, Len: 1},
		LargePage:       Bits{Pos: 7, Len: 1},
		PageFrameNumber: Bits{Pos: pageShift, Len: bits - pageShift},
		PTESize:         entrySize,
	}
	return newTranslator(Config{
		Layout: l, Physical: cfg.Physical,
		TLBEntries: cfg.TLBEntries, TableCachePages: cfg.TableCachePages,
	}, ModelX86)
}

// hardwareFlags names the bits of a present entry that say how it maps,
// in the SDM's abbreviations; the walk itself reads only P, PS and the
// address.
func hardwareFlags(raw uint64, large, leaf bool) string {
	var s []string
	if raw&(1<<1) != 0 {
		s = append(s, "RW")
	} else {
		s = append(s, "RO")
	}
	if raw&(1<<2) != 0 {
		s = append(s, "U")
	} else {
		s = append(s, "S")
	}
	if raw&(1<<5) != 0 {
		s = append(s, "A")
	}
	if (leaf || large) && raw&(1<<6) != 0 {
		s = append(s, "D")
	}
	if (leaf || large) && raw&(1<<8) != 0 {
		s = append(s, "G")
	}
	// PAT is bit 7 of a PTE, and bit 12 of a large page, inside the
	// address field: the PFN shown includes it, the address used does not.
	if leaf && raw&(1<<7) != 0 || large && raw&(1<<12) != 0 {
		s = append(s, "PAT")
	}
	if raw&(1<<63) != 0 {
		s = append(s, "NX")
	}
	return strings.Join(s, " ")
}
