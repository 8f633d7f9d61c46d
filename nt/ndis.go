package nt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/frostvmi/frost/symbols"
)

// NDIS hands frames around as NET_BUFFER_LIST chains: each list holds
// NET_BUFFERs, each buffer one frame whose bytes lie in a chain of MDLs,
// starting CurrentMdlOffset bytes into CurrentMdl and running DataLength
// bytes, possibly across several MDLs. Reading a frame is walking those
// three chains in guest memory, which is untrusted: every chain is bounded
// and cycle-safe, and a frame that cannot be read whole is an error that
// says which MDL and which page, never zeros.

// NetLayout is where NET_BUFFER_LIST, NET_BUFFER and MDL keep the members
// a frame walk needs, resolved by name from the PDBs of the module that
// holds NDIS (ndis.sys on Windows, ntoskrnl in mini-NT) and of the kernel.
type NetLayout struct {
	// NBL, NB and MDL are the type names found ("_NET_BUFFER_LIST", ...).
	NBL, NB, MDL string

	nblNext, nblFirst              symbols.Field
	nbNext, nbMdl, nbMdlOff, nbLen symbols.Field
	mdlNext, mdlProcess, mdlMapped symbols.Field
	mdlStart, mdlCount, mdlOffset  symbols.Field
	nblSpan, nbSpan, mdlSpan       uint64
	nblFrom, nbFrom, mdlFrom       string
}

// Each member has Windows' name, reached directly (a PDB hoists the
// members of an anonymous struct into its parent) or through the headers
// ndis.h nests them in.
var (
	nblNames = []string{"_NET_BUFFER_LIST", "NET_BUFFER_LIST"}
	nbNames  = []string{"_NET_BUFFER", "NET_BUFFER"}
	mdlNames = []string{"_MDL", "MDL"}

	nblPaths = map[string][]string{
		"Next":           {"Next", "NetBufferListHeader.NetBufferListData.Next"},
		"FirstNetBuffer": {"FirstNetBuffer", "NetBufferListHeader.NetBufferListData.FirstNetBuffer"},
	}
	nbPaths = map[string][]string{
		"Next":             {"Next", "NetBufferHeader.NetBufferData.Next"},
		"CurrentMdl":       {"CurrentMdl", "NetBufferHeader.NetBufferData.CurrentMdl"},
		"CurrentMdlOffset": {"CurrentMdlOffset", "NetBufferHeader.NetBufferData.CurrentMdlOffset"},
		"DataLength":       {"DataLength", "NetBufferHeader.NetBufferData.DataLength", "stDataLength", "NetBufferHeader.NetBufferData.stDataLength"},
	}
)

// NewNetLayout resolves the layout: each type from mod's symbols first
// (the NDIS module's PDB), then kernel's (MDL is ntoskrnl's on Windows).
// mod may be nil when NDIS lives in the kernel.
func NewNetLayout(mod, kernel symbols.Symbols) (*NetLayout, error) {
	var srcs []namedSymbols
	if mod != nil {
		srcs = append(srcs, namedSymbols{"module", mod})
	}
	if kernel != nil && kernel != mod {
		srcs = append(srcs, namedSymbols{"kernel", kernel})
	}
	if len(srcs) == 0 {
		return nil, errors.New("nt: NewNetLayout needs symbols")
	}
	l := &NetLayout{}
	var err error
	var nbl, nb, mdl typeIn
	if nbl, err = findType(srcs, nblNames); err != nil {
		return nil, err
	}
	if nb, err = findType(srcs, nbNames); err != nil {
		return nil, err
	}
	if mdl, err = findType(srcs, mdlNames); err != nil {
		return nil, err
	}
	l.NBL, l.NB, l.MDL = nbl.name, nb.name, mdl.name
	l.nblFrom, l.nbFrom, l.mdlFrom = nbl.from, nb.from, mdl.from
	for _, m := range []struct {
		t    typeIn
		dst  *symbols.Field
		name string
		alts []string
	}{
		{nbl, &l.nblNext, "Next", nblPaths["Next"]},
		{nbl, &l.nblFirst, "FirstNetBuffer", nblPaths["FirstNetBuffer"]},
		{nb, &l.nbNext, "Next", nbPaths["Next"]},
		{nb, &l.nbMdl, "CurrentMdl", nbPaths["CurrentMdl"]},
		{nb, &l.nbMdlOff, "CurrentMdlOffset", nbPaths["CurrentMdlOffset"]},
		{nb, &l.nbLen, "DataLength", nbPaths["DataLength"]},
		{mdl, &l.mdlNext, "Next", []string{"Next"}},
		{mdl, &l.mdlProcess, "Process", []string{"Process"}},
		{mdl, &l.mdlMapped, "MappedSystemVa", []string{"MappedSystemVa"}},
		{mdl, &l.mdlStart, "StartVa", []string{"StartVa"}},
		{mdl, &l.mdlCount, "ByteCount", []string{"ByteCount"}},
		{mdl, &l.mdlOffset, "ByteOffset", []string{"ByteOffset"}},
	} {
		f, err := m.t.member(m.name, m.alts)
		if err != nil {
			return nil, err
		}
		*m.dst = f
	}
	l.nblSpan = span(l.nblNext, l.nblFirst)
	l.nbSpan = span(l.nbNext, l.nbMdl, l.nbMdlOff, l.nbLen)
	l.mdlSpan = span(l.mdlNext, l.mdlProcess, l.mdlMapped, l.mdlStart, l.mdlCount, l.mdlOffset)
	return l, nil
}

// String says which types were found where, for the started message.
func (l *NetLayout) String() string {
	return fmt.Sprintf("%s (%s PDB), %s (%s PDB), %s (%s PDB)", l.NBL, l.nblFrom, l.NB, l.nbFrom, l.MDL, l.mdlFrom)
}

type namedSymbols struct {
	name string
	sym  symbols.Symbols
}

type typeIn struct {
	name, from string
	sym        symbols.Symbols
}

func findType(srcs []namedSymbols, names []string) (typeIn, error) {
	for _, s := range srcs {
		for _, n := range names {
			if _, err := s.sym.Size(n); err == nil {
				return typeIn{n, s.name, s.sym}, nil
			}
		}
	}
	var where []string
	for _, s := range srcs {
		where = append(where, s.name)
	}
	return typeIn{}, &SymbolError{Need: "type " + strings.Join(names, " or "), Err: fmt.Errorf("in none of the %s PDBs", strings.Join(where, " and "))}
}

// member resolves the first path that exists and is a plausible integer
// or pointer.
func (t typeIn) member(name string, paths []string) (symbols.Field, error) {
	var first error
	for _, p := range paths {
		f, err := t.sym.Field(t.name + "." + p)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if f.Size == 0 || f.Size > 8 {
			return f, &SymbolError{Need: t.name + "." + p, Err: fmt.Errorf("a %d-byte member is not an integer or pointer", f.Size)}
		}
		if f.Offset+f.Size > maxStruct {
			return f, &SymbolError{Need: t.name + "." + p, Err: fmt.Errorf("offset %#x is not plausible", f.Offset)}
		}
		return f, nil
	}
	return symbols.Field{}, &SymbolError{Need: fmt.Sprintf("%s.%s (as %s)", t.name, name, strings.Join(paths, " or ")), Err: first}
}

// span is how many bytes from a structure's start hold every member the
// walk reads: one read per node instead of one per member.
func span(fs ...symbols.Field) uint64 {
	var n uint64
	for _, f := range fs {
		n = max(n, f.Offset+f.Size)
	}
	return n
}

// NetLimits bound a walk of guest NDIS structures; zero fields take the
// defaults.
type NetLimits struct {
	NBLs      int // lists in one chain (default 256)
	NBsPerNBL int // buffers in one list (default 64)
	MDLsPerNB int // MDLs one frame may span (default 64)
	MaxFrame  int // bytes of one frame (default and at most 64 KiB)
}

// MaxNetFrame is the largest frame a walk reads: more than any NIC sends
// (a 64 KiB LSO super-frame included), so a larger DataLength is corrupt.
const MaxNetFrame = 1 << 16

func (l NetLimits) withDefaults() NetLimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.NBLs, 256)
	def(&l.NBsPerNBL, 64)
	def(&l.MDLsPerNB, 64)
	def(&l.MaxFrame, MaxNetFrame)
	l.MaxFrame = min(l.MaxFrame, MaxNetFrame)
	return l
}

// NetFrame is one NET_BUFFER's frame.
type NetFrame struct {
	// NBL and NB are the structures' addresses; Index numbers the buffers
	// of the call from 0.
	NBL, NB uint64
	Index   int
	// Length is DataLength: the frame's length as NDIS states it.
	Length uint64
	// Data is the frame, whole, when Err is nil; nothing otherwise.
	Data []byte
	// Err says why the frame could not be read whole (a *FrameError).
	Err error
}

// FrameError says why one frame could not be read: which buffer, which
// MDL of it, and the read that failed (whose error names the page state)
// or the value that cannot be.
type FrameError struct {
	NB uint64
	// MDL is the failing MDL's index in the frame's chain (from 0, the
	// CurrentMdl) and address; -1 when the buffer itself failed.
	MDL     int
	MDLAddr uint64
	// Offset is how many of the frame's bytes were read before it failed.
	Offset uint64
	Err    error
}

func (e *FrameError) Error() string {
	if e.MDL < 0 {
		return fmt.Sprintf("nt: frame of NET_BUFFER %#x: %v", e.NB, e.Err)
	}
	return fmt.Sprintf("nt: frame of NET_BUFFER %#x: MDL %d at %#x (frame offset %d): %v", e.NB, e.MDL, e.MDLAddr, e.Offset, e.Err)
}

func (e *FrameError) Unwrap() error { return e.Err }

// kernelHalfStart is the lowest canonical kernel address: an MDL's
// MappedSystemVa there is a system mapping of its pages.
const kernelHalfStart = 0xffff800000000000

// NetBufferLists reads every frame of the NET_BUFFER_LIST chain at head.
// dtb is the address space current at the call (CR3), where an MDL of
// user memory with no Process is read. Frames that cannot be read whole
// are returned with their Err set; the error is for the chain itself
// (a list unreadable, a cycle, a bound exceeded), returned with the
// frames read before it.
func (k *Kernel) NetBufferLists(l *NetLayout, dtb, head uint64, lim NetLimits) ([]NetFrame, error) {
	if l == nil {
		return nil, errors.New("nt: NetBufferLists needs a layout")
	}
	if head == 0 {
		return nil, &WalkError{What: "NET_BUFFER_LIST chain", At: 0, Err: ErrCorrupt, Msg: "no list (NULL)"}
	}
	lim = lim.withDefaults()
	var out []NetFrame
	seen := map[uint64]bool{}
	for nbl := head; nbl != 0; {
		if seen[nbl] {
			return out, &WalkError{What: "NET_BUFFER_LIST chain", At: nbl, Err: ErrCycle}
		}
		if len(seen) >= lim.NBLs {
			return out, &WalkError{What: "NET_BUFFER_LIST chain", At: head, Err: ErrTooLong, Msg: fmt.Sprintf("more than %d lists", lim.NBLs)}
		}
		seen[nbl] = true
		b := make([]byte, l.nblSpan)
		if err := k.read(l.NBL, k.dtb, nbl, b); err != nil {
			return out, err
		}
		frames, err := k.netBuffers(l, dtb, nbl, field(b, l.nblFirst), lim, len(out))
		out = append(out, frames...)
		if err != nil {
			return out, err
		}
		nbl = field(b, l.nblNext)
	}
	return out, nil
}

// field extracts f from a node's bytes; the span covers every member.
func field(b []byte, f symbols.Field) uint64 {
	var raw [8]byte
	copy(raw[:], b[f.Offset:f.Offset+f.Size])
	return f.Extract(binary.LittleEndian.Uint64(raw[:]))
}

func (k *Kernel) netBuffers(l *NetLayout, dtb, nbl, first uint64, lim NetLimits, index int) ([]NetFrame, error) {
	var out []NetFrame
	seen := map[uint64]bool{}
	for nb := first; nb != 0; {
		if seen[nb] {
			return out, &WalkError{What: fmt.Sprintf("NET_BUFFER chain of list %#x", nbl), At: nb, Err: ErrCycle}
		}
		if len(seen) >= lim.NBsPerNBL {
			return out, &WalkError{What: fmt.Sprintf("NET_BUFFER chain of list %#x", nbl), At: first, Err: ErrTooLong, Msg: fmt.Sprintf("more than %d buffers", lim.NBsPerNBL)}
		}
		seen[nb] = true
		b := make([]byte, l.nbSpan)
		if err := k.read(l.NB, k.dtb, nb, b); err != nil {
			// Without the buffer there is no next one either.
			return out, err
		}
		f := NetFrame{NBL: nbl, NB: nb, Index: index + len(out), Length: field(b, l.nbLen)}
		f.Data, f.Err = k.frame(l, dtb, nb, field(b, l.nbMdl), field(b, l.nbMdlOff), f.Length, lim)
		out = append(out, f)
		nb = field(b, l.nbNext)
	}
	return out, nil
}

// frame reads length bytes from offset bytes into the MDL chain at mdl.
func (k *Kernel) frame(l *NetLayout, dtb, nb, mdl, offset, length uint64, lim NetLimits) ([]byte, error) {
	fail := func(i int, at, done uint64, err error) ([]byte, error) {
		return nil, &FrameError{NB: nb, MDL: i, MDLAddr: at, Offset: done, Err: err}
	}
	switch {
	case length == 0:
		return fail(-1, 0, 0, fmt.Errorf("%w: DataLength is 0", ErrCorrupt))
	case length > uint64(lim.MaxFrame):
		return fail(-1, 0, 0, fmt.Errorf("%w: DataLength %d exceeds the %d-byte frame bound", ErrTooLong, length, lim.MaxFrame))
	case mdl == 0:
		return fail(-1, 0, 0, fmt.Errorf("%w: no CurrentMdl for %d bytes", ErrCorrupt, length))
	}
	data := make([]byte, 0, length)
	seen := map[uint64]bool{}
	for i := 0; uint64(len(data)) < length; i++ {
		done := uint64(len(data))
		if mdl == 0 {
			return fail(i, 0, done, fmt.Errorf("%w: the MDL chain ends %d bytes short of DataLength %d", ErrCorrupt, length-done, length))
		}
		if seen[mdl] {
			return fail(i, mdl, done, ErrCycle)
		}
		if i >= lim.MDLsPerNB {
			return fail(i, mdl, done, fmt.Errorf("%w: more than %d MDLs", ErrTooLong, lim.MDLsPerNB))
		}
		seen[mdl] = true
		b := make([]byte, l.mdlSpan)
		if err := k.read(l.MDL, k.dtb, mdl, b); err != nil {
			return fail(i, mdl, done, err)
		}
		count := field(b, l.mdlCount)
		if offset > count {
			return fail(i, mdl, done, fmt.Errorf("%w: data offset %d lies past the MDL's ByteCount %d", ErrCorrupt, offset, count))
		}
		n := min(count-offset, length-done)
		if n > 0 {
			va, space, err := k.mdlAddress(b, l, dtb)
			if err != nil {
				return fail(i, mdl, done, err)
			}
			data = data[:done+n]
			if err := k.read(fmt.Sprintf("MDL data (%d bytes at offset %d of %d)", n, offset, count), space, va+offset, data[done:]); err != nil {
				return fail(i, mdl, done, err)
			}
		}
		mdl, offset = field(b, l.mdlNext), 0
	}
	return data, nil
}

// mdlAddress is where an MDL's bytes are and in which address space: its
// system mapping when it has one, else StartVa+ByteOffset in the MDL's
// process (or the current space when it names none).
func (k *Kernel) mdlAddress(b []byte, l *NetLayout, dtb uint64) (uint64, uint64, error) {
	if va := field(b, l.mdlMapped); va >= kernelHalfStart {
		return va, k.dtb, nil
	}
	va := field(b, l.mdlStart) + field(b, l.mdlOffset)
	if va >= kernelHalfStart {
		return va, k.dtb, nil
	}
	proc := field(b, l.mdlProcess)
	if proc == 0 {
		return va, dtb, nil
	}
	p, err := k.ProcessAt(proc)
	if err != nil {
		return 0, 0, fmt.Errorf("the MDL's Process %#x: %w", proc, err)
	}
	return va, p.DTB, nil
}
