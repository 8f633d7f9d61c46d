package translate

import (
	"fmt"
	"strings"
)

// Kind is the decoded state of one entry: a page-table entry, or a
// prototype PTE.
type Kind uint8

const (
	KindValid        Kind = iota + 1 // hardware-valid
	KindTransition                   // invalid, but the page is still in RAM
	KindPagefile                     // in a paging file (or the virtual store)
	KindDemandZero                   // non-zero software entry without a paging-file offset
	KindDecommitted                  // as demand-zero, with Protection = MM_DECOMMIT
	KindZero                         // all zero after unswizzling: the VAD decides
	KindPrototype                    // points at a prototype PTE (page-table entries only)
	KindVADPrototype                 // prototype PTE known only to the VAD (page-table entries only)
	KindSubsection                   // prototype PTEs only: the page is only in its file
	KindNotPresent                   // ModelX86: P clear, and nothing more is read from it
)

var kindNames = [...]string{
	KindValid: "Valid", KindTransition: "Transition", KindPagefile: "Pagefile",
	KindDemandZero: "Demand Zero", KindDecommitted: "Decommitted", KindZero: "Zero",
	KindPrototype: "Prototype", KindVADPrototype: "VAD Prototype", KindSubsection: "Subsection",
	KindNotPresent: "Not Present",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Windows' 5-bit software protections. They are #defines of the memory
// manager, not members of any type, so no PDB or ISF carries them; they have
// not changed since NT 3.1.
const (
	mmDecommit = 0x10 // MM_GUARD_PAGE | MM_ZERO_ACCESS: "decommitted"
	mmNoCache  = 0x08
	mmGuard    = 0x10
)

// ProtectionString names a software protection as WinDbg's !pte does.
func ProtectionString(p uint64) string {
	access := [...]string{"NoAccess", "ReadOnly", "Execute", "ExecuteRead", "ReadWrite", "WriteCopy", "ExecuteReadWrite", "ExecuteWriteCopy"}
	switch p {
	case mmDecommit:
		return "Decommitted"
	case mmGuard | mmNoCache:
		return "NoAccess"
	}
	s := []string{access[p&7]}
	if p&0x18 == mmNoCache {
		s = append(s, "NoCache")
	}
	if p&0x18 == mmGuard {
		s = append(s, "Guard")
	}
	if p&0x18 == mmGuard|mmNoCache {
		s = append(s, "WriteCombine")
	}
	return strings.Join(s, "|")
}

// vadLookupMarker is MI_PTE_LOOKUP_NEEDED: the raw 48-bit ProtoAddress of a
// prototype PTE whose address only the VAD knows. It is compared before
// sign extension; extended, it reads 0xFFFFFFFFFFFF0000.
const vadLookupMarker = 0xFFFFFFFF0000

// entry is one decoded entry.
type entry struct {
	raw     uint64
	value   uint64 // raw with the swizzle mask removed
	cleared uint64 // the mask bits removed from raw
	kind    Kind

	large      bool   // valid PDPTE or PDE mapping a 1G or 2M page
	pfn        uint64 // valid, transition
	protection uint64 // transition and software entries
	pagefile   uint64 // PageFileLow
	pageOffset uint64 // PageFileHigh: offset in pages
	pointer    uint64 // prototype: the prototype PTE's VA; subsection: the _SUBSECTION's VA
	hardware   bool   // decoded by ModelX86
	leaf       bool   // a PTE: bits 6 and 8 are D and G whatever PS says
	reserved   uint64 // ModelX86: address bits above MAXPHYADDR set in a present entry
}

// decoder holds a Layout's masks, ready for the hot path.
type decoder struct {
	l                                      *Layout
	mask                                   uint64 // swizzle mask, 0 if none
	valid, large, proto, trans, swizzleBit uint64
	physMask                               uint64 // bits of a physical address a PFN can reach
	hardware                               bool   // ModelX86: present or not, nothing else
	reserved                               uint64 // ModelX86: bits MAXPHYADDR..51, which must be clear
}

func newDecoder(l *Layout, mask uint64) decoder {
	d := decoder{
		l:          l,
		valid:      l.Valid.Mask(),
		large:      l.LargePage.Mask(),
		proto:      l.Prototype.Mask(),
		trans:      l.Transition.Mask(),
		swizzleBit: l.SwizzleBit.Mask(),
		physMask:   (uint64(1)<<(l.PageFrameNumber.Len+pageShift) - 1) &^ pageMask,
	}
	if l.SwizzleBit.Len != 0 {
		d.mask = mask
	}
	return d
}

// decode applies Windows' order: unswizzle, then Valid, Prototype,
// Transition, software. inProto selects the prototype-PTE rules, under which
// the Prototype bit means "subsection" and there is no VAD marker.
func (d *decoder) decode(raw uint64, inProto bool) entry {
	var e entry
	d.decodeTo(&e, raw, inProto)
	return e
}

// decodeTo is decode into *e. The walk decodes in place: returning the
// entry by value cost more than the rest of a level, as the copy reads
// back words just written piecemeal (a store-forwarding stall).
func (d *decoder) decodeTo(e *entry, raw uint64, inProto bool) {
	if d.hardware {
		d.decodeHardware(e, raw)
		return
	}
	*e = entry{raw: raw}
	e.value, e.cleared = d.unswizzle(raw)
	v := e.value
	l := d.l
	switch {
	case v&d.valid != 0:
		e.kind = KindValid
		e.pfn = l.PageFrameNumber.Get(v)
		// LargePage counts only in a valid entry; in an invalid PDE the same
		// bit belongs to Protection.
		e.large = v&d.large != 0
	case v&d.proto != 0 && inProto:
		e.kind = KindSubsection
		e.protection = l.Protection.Get(v)
		e.pointer = signExtend48(l.SubsectionAddress.Get(v))
	case v&d.proto != 0:
		field := l.ProtoAddress.Get(v)
		if field == vadLookupMarker {
			e.kind = KindVADPrototype
		} else {
			e.kind = KindPrototype
			e.pointer = signExtend48(field)
		}
	case v&d.trans != 0:
		e.kind = KindTransition
		e.pfn = l.TransitionPageFrameNumber.Get(v)
		e.protection = l.Protection.Get(v)
	case v == 0:
		e.kind = KindZero
	default:
		e.protection = l.Protection.Get(v)
		e.pagefile = l.PageFileLow.Get(v)
		e.pageOffset = l.PageFileHigh.Get(v)
		switch {
		case e.pageOffset != 0:
			e.kind = KindPagefile
		case e.protection == mmDecommit:
			e.kind = KindDecommitted
		default:
			e.kind = KindDemandZero
		}
	}
}

// newHardwareDecoder reads entries as the processor does: no swizzle, no
// software states.
func newHardwareDecoder(l *Layout) decoder {
	d := newDecoder(l, 0)
	d.hardware = true
	d.reserved = (uint64(1)<<maxPhysicalBits - 1) &^ (d.physMask | pageMask)
	return d
}

// decodeHardware is the processor's reading: P, then PS and the address.
// inProto never applies: a hardware walk meets no prototype PTEs.
func (d *decoder) decodeHardware(e *entry, raw uint64) {
	*e = entry{raw: raw, value: raw, hardware: true, kind: KindNotPresent}
	if raw&d.valid != 0 {
		e.kind = KindValid
		e.pfn = d.l.PageFrameNumber.Get(raw)
		e.large = raw&d.large != 0
		e.reserved = raw & d.reserved
	}
}

// signExtend48 turns a 48-bit pointer field into a canonical VA.
func signExtend48(v uint64) uint64 {
	return uint64(int64(v<<16) >> 16)
}

// fields lists the decoded fields for provenance, in !pte's vocabulary.
func (e *entry) fields() string {
	var b strings.Builder
	switch e.kind {
	case KindValid:
		fmt.Fprintf(&b, "PFN 0x%x", e.pfn)
		if e.large {
			b.WriteString(" LargePage")
		}
		if e.hardware {
			b.WriteString(" " + hardwareFlags(e.raw, e.large, e.leaf))
		}
	case KindTransition:
		fmt.Fprintf(&b, "PFN 0x%x Protection %d (%s)", e.pfn, e.protection, ProtectionString(e.protection))
	case KindPagefile:
		fmt.Fprintf(&b, "PageFileLow %d PageFileHigh 0x%x Protection %d (%s)", e.pagefile, e.pageOffset, e.protection, ProtectionString(e.protection))
	case KindDemandZero, KindDecommitted:
		fmt.Fprintf(&b, "Protection %d (%s)", e.protection, ProtectionString(e.protection))
	case KindPrototype:
		fmt.Fprintf(&b, "ProtoAddress 0x%x", e.pointer)
	case KindVADPrototype:
		fmt.Fprintf(&b, "ProtoAddress 0x%x (lookup needed)", uint64(vadLookupMarker))
	case KindSubsection:
		fmt.Fprintf(&b, "SubsectionAddress 0x%x Protection %d (%s)", e.pointer, e.protection, ProtectionString(e.protection))
	}
	return b.String()
}
