package nttest

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/frostvmi/frost/symbols"
)

// Physical is where the guest is laid out: guest-physical RAM the test
// writes and reads whatever the run state (vmitest.Target is one).
type Physical interface {
	Poke(gpa uint64, p []byte) error
	Peek(gpa uint64, n int) ([]byte, error)
}

// Where things go. The kernel's base is 2 MiB aligned as Windows' is; the
// pool, the stack and user memory sit in their usual regions.
const (
	KernelBase = 0xfffff80000000000 // the image's base
	PoolBase   = 0xffffa00000010000 // kernel objects (Alloc)
	StackTop   = 0xfffff60000010000 // a kernel stack of 64 KiB below it
	UserBase   = 0x0000000010000000 // user memory (AllocUser)

	tablesPA = 0x100000 // page tables and everything else, bump-allocated
)

// Architectural bits (Intel SDM vol. 3): paging on in long mode.
const (
	cr0PE, cr0PG = 1, 1 << 31
	cr4PAE       = 1 << 5
	eferLME      = 1 << 8
	eferLMA      = 1 << 10
	pteP, pteRW  = 1, 2
	pteUS        = 4
)

// Guest is a Windows-like guest in physical memory: one address space
// (CR3) holding the kernel image, pool, a kernel stack and user memory.
type Guest struct {
	tb   testing.TB
	phys Physical
	Tab  *symbols.Table
	// CR3 is the PML4's physical address: the kernel's DTB and every
	// process's here.
	CR3 uint64
	// ImageSize is the mapped size of the kernel image.
	ImageSize uint64

	nextPA, nextPool, nextUser uint64
	pages                      map[uint64]uint64 // VA page -> PA page
}

// NewGuest lays out a kernel with tab's symbols in phys: page tables, the
// image mapped from KernelBase far enough to hold every symbol, its
// headers naming ntkrnlmp.pdb with tab's identity, a stack, and the
// process and module lists empty.
func NewGuest(tb testing.TB, phys Physical, tab *symbols.Table) *Guest {
	tb.Helper()
	g := &Guest{tb: tb, phys: phys, Tab: tab, nextPA: tablesPA, nextPool: PoolBase, nextUser: UserBase, pages: map[uint64]uint64{}}
	g.CR3 = g.allocPA()
	var top uint64
	for _, s := range tab.Data().Symbols {
		top = max(top, s.Address)
	}
	g.ImageSize = (top + 0x10000) &^ 0xfff
	g.Map(KernelBase, g.ImageSize, false)
	g.Map(StackTop-0x10000, 0x10000, false)
	g.writePE()
	for _, head := range []string{"PsActiveProcessHead", "PsLoadedModuleList"} {
		if va, err := tab.Address(head); err == nil {
			g.InitList(KernelBase + va)
		}
	}
	return g
}

// allocPA takes a zeroed physical page.
func (g *Guest) allocPA() uint64 {
	pa := g.nextPA
	g.nextPA += 0x1000
	if err := g.phys.Poke(pa, make([]byte, 0x1000)); err != nil {
		g.tb.Fatalf("nttest: RAM for the guest's layout: %v", err)
	}
	return pa
}

func (g *Guest) readPA(pa uint64) uint64 {
	b, err := g.phys.Peek(pa, 8)
	if err != nil {
		g.tb.Fatal(err)
	}
	return binary.LittleEndian.Uint64(b)
}

func (g *Guest) writePA(pa, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	if err := g.phys.Poke(pa, b[:]); err != nil {
		g.tb.Fatal(err)
	}
}

// Map maps [va, va+size) page by page onto fresh physical pages (user
// pages when user), keeping what is mapped already.
func (g *Guest) Map(va, size uint64, user bool) {
	flags := uint64(pteP | pteRW)
	if user {
		flags |= pteUS
	}
	for p := va &^ 0xfff; p < va+size; p += 0x1000 {
		if _, ok := g.pages[p]; ok {
			continue
		}
		table := g.CR3
		for level := 3; level > 0; level-- {
			e := table + 8*((p>>(12+9*level))&0x1ff)
			v := g.readPA(e)
			if v&pteP == 0 {
				v = g.allocPA() | pteP | pteRW | pteUS
				g.writePA(e, v)
			}
			table = v &^ 0xfff &^ (1 << 63)
		}
		pa := g.allocPA()
		g.writePA(table+8*((p>>12)&0x1ff), pa|flags)
		g.pages[p] = pa
	}
}

// Unmap removes the page at va (a discarded INIT section, a page the
// kernel freed): a read there faults from now on.
func (g *Guest) Unmap(va uint64) {
	p := va &^ 0xfff
	table := g.CR3
	for level := 3; level > 0; level-- {
		v := g.readPA(table + 8*((p>>(12+9*level))&0x1ff))
		if v&pteP == 0 {
			return
		}
		table = v &^ 0xfff &^ (1 << 63)
	}
	g.writePA(table+8*((p>>12)&0x1ff), 0)
	delete(g.pages, p)
}

// PA is the physical address of a mapped va.
func (g *Guest) PA(va uint64) uint64 {
	g.tb.Helper()
	pa, ok := g.pages[va&^0xfff]
	if !ok {
		g.tb.Fatalf("nttest: %#x is not mapped", va)
	}
	return pa | va&0xfff
}

// Write writes p at the mapped va.
func (g *Guest) Write(va uint64, p []byte) {
	g.tb.Helper()
	for i := 0; i < len(p); {
		a := va + uint64(i)
		n := min(len(p)-i, int(0x1000-a&0xfff))
		if err := g.phys.Poke(g.PA(a), p[i:i+n]); err != nil {
			g.tb.Fatal(err)
		}
		i += n
	}
}

// Read reads n bytes at the mapped va.
func (g *Guest) Read(va uint64, n int) []byte {
	g.tb.Helper()
	var out []byte
	for i := 0; i < n; {
		a := va + uint64(i)
		c := min(n-i, int(0x1000-a&0xfff))
		b, err := g.phys.Peek(g.PA(a), c)
		if err != nil {
			g.tb.Fatal(err)
		}
		out = append(out, b...)
		i += c
	}
	return out
}

// U64 and PutU64 read and write one little-endian quadword.
func (g *Guest) U64(va uint64) uint64 { return binary.LittleEndian.Uint64(g.Read(va, 8)) }
func (g *Guest) PutU64(va, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	g.Write(va, b[:])
}

// Alloc maps n zeroed bytes of kernel pool, 16-byte aligned.
func (g *Guest) Alloc(n uint64) uint64 {
	va := g.nextPool
	g.nextPool += (max(n, 1) + 15) &^ 15
	g.Map(va, n, false)
	return va
}

// AllocUser maps n zeroed bytes of user memory, 16-byte aligned.
func (g *Guest) AllocUser(n uint64) uint64 {
	va := g.nextUser
	g.nextUser += (max(n, 1) + 15) &^ 15
	g.Map(va, n, true)
	return va
}

// AllocType allocates one typ.
func (g *Guest) AllocType(typ string) uint64 {
	g.tb.Helper()
	n, err := g.Tab.Size(typ)
	if err != nil {
		g.tb.Fatal(err)
	}
	return g.Alloc(n)
}

// Global is a kernel global's or function's address.
func (g *Guest) Global(name string) uint64 {
	g.tb.Helper()
	rva, err := g.Tab.Address(name)
	if err != nil {
		g.tb.Fatal(err)
	}
	return KernelBase + rva
}

// Addr is the address of the member at path of the typ at va.
func (g *Guest) Addr(typ string, va uint64, path string) uint64 {
	g.tb.Helper()
	f, err := g.Tab.Field(typ + "." + path)
	if err != nil {
		g.tb.Fatal(err)
	}
	return va + f.Offset
}

// Set writes value into the member at path of the typ at va, bitfields
// included.
func (g *Guest) Set(typ string, va uint64, path string, value uint64) {
	g.tb.Helper()
	f, err := g.Tab.Field(typ + "." + path)
	if err != nil {
		g.tb.Fatal(err)
	}
	if f.Size > 8 {
		g.tb.Fatalf("nttest: %s.%s is %d bytes, not a number", typ, path, f.Size)
	}
	buf := make([]byte, 8)
	copy(buf, g.Read(va+f.Offset, int(f.Size)))
	raw := binary.LittleEndian.Uint64(buf)
	if f.Kind == symbols.KindBitfield {
		mask := (uint64(1)<<f.BitLength - 1) << f.BitPosition
		raw = raw&^mask | (value<<f.BitPosition)&mask
	} else {
		raw = value
	}
	binary.LittleEndian.PutUint64(buf, raw)
	g.Write(va+f.Offset, buf[:f.Size])
}

// InitList makes an empty LIST_ENTRY at head.
func (g *Guest) InitList(head uint64) {
	g.Set("_LIST_ENTRY", head, "Flink", head)
	g.Set("_LIST_ENTRY", head, "Blink", head)
}

// InsertTail links entry at the end of the list at head.
func (g *Guest) InsertTail(head, entry uint64) {
	last := g.U64(g.Addr("_LIST_ENTRY", head, "Blink"))
	g.Set("_LIST_ENTRY", entry, "Flink", head)
	g.Set("_LIST_ENTRY", entry, "Blink", last)
	g.Set("_LIST_ENTRY", last, "Flink", entry)
	g.Set("_LIST_ENTRY", head, "Blink", entry)
}

// Process makes an EPROCESS in this address space and links it on
// PsActiveProcessHead.
func (g *Guest) Process(pid, parent uint64, name string) uint64 {
	g.tb.Helper()
	ep := g.AllocType("_EPROCESS")
	g.Set("_EPROCESS", ep, "UniqueProcessId", pid)
	g.Set("_EPROCESS", ep, "InheritedFromUniqueProcessId", parent)
	g.Set("_EPROCESS", ep, "Pcb.DirectoryTableBase", g.CR3)
	g.Write(g.Addr("_EPROCESS", ep, "ImageFileName"), []byte(name))
	g.InitList(g.Addr("_EPROCESS", ep, "ThreadListHead"))
	g.InitList(g.Addr("_EPROCESS", ep, "Pcb.ThreadListHead"))
	g.InsertTail(g.Global("PsActiveProcessHead"), g.Addr("_EPROCESS", ep, "ActiveProcessLinks"))
	return ep
}

// Unicode writes a UNICODE_STRING for s at va, its buffer from alloc
// (Alloc or AllocUser).
func (g *Guest) Unicode(va uint64, s string, alloc func(uint64) uint64) {
	w := make([]byte, 0, 2*len(s))
	for _, r := range s {
		w = binary.LittleEndian.AppendUint16(w, uint16(r))
	}
	buf := alloc(uint64(len(w)) + 2)
	g.Write(buf, w)
	g.Set("_UNICODE_STRING", va, "Length", uint64(len(w)))
	g.Set("_UNICODE_STRING", va, "MaximumLength", uint64(len(w)+2))
	g.Set("_UNICODE_STRING", va, "Buffer", buf)
}

// Registers is a kernel-mode stop at rip with the stack at rsp: long-mode
// paging on, CR3 this guest's. Add or override what a test needs.
func (g *Guest) Registers(rip, rsp uint64) map[string]uint64 {
	return map[string]uint64{
		"cr0": cr0PE | cr0PG, "cr4": cr4PAE, "efer": eferLME | eferLMA, "cr3": g.CR3,
		"cs": 0x10, "ss": 0x18, "rip": rip, "rsp": rsp, "eflags": 0x202,
	}
}

// Call makes the stack of a function's first instruction: the return
// address at [rsp]. It returns rsp.
func (g *Guest) Call(ret uint64) uint64 {
	rsp := uint64(StackTop - 0x1000)
	g.PutU64(rsp, ret)
	return rsp
}

// writePE writes the image's headers at KernelBase: just what nt's kernel
// search reads (MZ, PE32+, the debug directory's CodeView record naming
// ntkrnlmp.pdb with tab's GUID and age).
func (g *Guest) writePE() {
	le := binary.LittleEndian
	h := make([]byte, 0x1000)
	copy(h, "MZ")
	le.PutUint32(h[0x3c:], 0x80)
	copy(h[0x80:], "PE\x00\x00")
	le.PutUint16(h[0x84:], 0x8664)              // AMD64
	le.PutUint16(h[0x80+20:], 240)              // SizeOfOptionalHeader
	opt := h[0x98:]                             // the optional header
	le.PutUint16(opt, 0x20b)                    // PE32+
	le.PutUint32(opt[56:], uint32(g.ImageSize)) // SizeOfImage
	le.PutUint32(opt[108:], 16)                 // NumberOfRvaAndSizes
	le.PutUint32(opt[112+6*8:], 0x200)          // the debug directory
	le.PutUint32(opt[112+6*8+4:], 28)
	dd := h[0x200:]
	le.PutUint32(dd[12:], 2) // IMAGE_DEBUG_TYPE_CODEVIEW
	// The GUID is not the table's: Loader hands out its table whatever
	// identity nt asks for.
	rec := append([]byte("RSDS"), bytes.Repeat([]byte{0xab}, 16)...)
	rec = le.AppendUint32(rec, 1)
	rec = append(append(rec, `C:\nttest\ntkrnlmp.pdb`...), 0)
	le.PutUint32(dd[16:], uint32(len(rec)))
	le.PutUint32(dd[20:], 0x300)
	copy(h[0x300:], rec)
	g.Write(KernelBase, h)
}

// Loader hands nt.Open the guest's symbols, whatever identity it asks
// for; Loads counts the calls.
type Loader struct {
	Tab   *symbols.Table
	Loads atomic.Int64
}

// Load returns the table.
func (l *Loader) Load(ctx context.Context, id symbols.Identity) (*symbols.Table, string, error) {
	l.Loads.Add(1)
	return l.Tab, "nttest", nil
}
