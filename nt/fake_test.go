package nt

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/frostvmi/frost/symbols"
)

// The unit tests build their own kernel: a symbol table made here (in two
// layouts, members in declaration order and reversed, as mini-NT's reorder
// build does) and a sparse fake of virtual memory written through those
// symbols. Nothing in the tests knows an offset either.

// member is one member of a test type; layout places it.
type member struct {
	name string
	ref  symbols.TypeRef
	size uint64
}

type symBuilder struct {
	d        *symbols.Data
	reversed bool
}

func newSymBuilder(reversed bool) *symBuilder {
	d := &symbols.Data{
		BaseTypes: map[string]symbols.BaseType{
			"unsigned char":      {Size: 1, Kind: symbols.BaseInt},
			"unsigned short":     {Size: 2, Kind: symbols.BaseInt},
			"unsigned long":      {Size: 4, Kind: symbols.BaseInt},
			"unsigned long long": {Size: 8, Kind: symbols.BaseInt},
			"void":               {Size: 0, Kind: symbols.BaseVoid},
			symbols.PointerType:  {Size: 8, Kind: symbols.BaseInt},
		},
		UserTypes: map[string]*symbols.UserType{},
		Enums:     map[string]*symbols.Enum{},
		Symbols:   map[string]symbols.Symbol{},
	}
	return &symBuilder{d: d, reversed: reversed}
}

func baseOf(size uint64) string {
	return map[uint64]string{1: "unsigned char", 2: "unsigned short", 4: "unsigned long", 8: "unsigned long long"}[size]
}

func uintM(name string, size uint64) member {
	return member{name, symbols.TypeRef{Kind: symbols.KindBase, Name: baseOf(size)}, size}
}

func ptrM(name string) member {
	return member{name, symbols.TypeRef{Kind: symbols.KindPointer, Sub: &symbols.TypeRef{Kind: symbols.KindBase, Name: "void"}}, 8}
}

func (b *symBuilder) subM(name, typ string) member {
	return member{name, symbols.TypeRef{Kind: symbols.KindStruct, Name: typ}, b.d.UserTypes[typ].Size}
}

func arrM(name string, elemSize, count uint64) member {
	e := symbols.TypeRef{Kind: symbols.KindBase, Name: baseOf(elemSize)}
	return member{name, symbols.TypeRef{Kind: symbols.KindArray, Sub: &e, Count: count}, elemSize * count}
}

func (b *symBuilder) ptrArrM(name string, count uint64) member {
	e := symbols.TypeRef{Kind: symbols.KindPointer, Sub: &symbols.TypeRef{Kind: symbols.KindBase, Name: "void"}}
	return member{name, symbols.TypeRef{Kind: symbols.KindArray, Sub: &e, Count: count}, 8 * count}
}

// strct lays members out one after the other, each 8-byte aligned, in
// declaration order or reversed.
func (b *symBuilder) strct(name string, ms ...member) {
	if b.reversed {
		ms = slices.Clone(ms)
		slices.Reverse(ms)
	}
	ut := &symbols.UserType{Kind: symbols.KindStruct}
	var off uint64
	for _, m := range ms {
		ut.Fields = append(ut.Fields, symbols.Member{Name: m.name, Offset: off, Type: m.ref})
		off += (m.size + 7) &^ 7
	}
	ut.Size = max(off, 8)
	b.d.UserTypes[name] = ut
}

// strctTail is strct with tail kept last in either order.
func (b *symBuilder) strctTail(name string, tail member, ms ...member) {
	if b.reversed {
		ms = slices.Clone(ms)
		slices.Reverse(ms)
	}
	rev := b.reversed
	b.reversed = false
	b.strct(name, append(ms, tail)...)
	b.reversed = rev
}

// bitfield is one bitfield of a flags type.
type bitfield struct {
	name string
	len  uint32
}

// flags makes a struct of bitfields in one storage unit of size bytes,
// packed from bit 0 (or from the top when reversed).
func (b *symBuilder) flags(name string, size uint64, bfs ...bitfield) {
	ut := &symbols.UserType{Kind: symbols.KindStruct, Size: size}
	storage := symbols.TypeRef{Kind: symbols.KindBase, Name: baseOf(size)}
	var pos uint32
	for _, bf := range bfs {
		p := pos
		if b.reversed {
			p = uint32(size*8) - pos - bf.len
		}
		s := storage
		ut.Fields = append(ut.Fields, symbols.Member{Name: bf.name, Offset: 0, Type: symbols.TypeRef{Kind: symbols.KindBitfield, Sub: &s, BitPosition: p, BitLength: bf.len}})
		pos += bf.len
	}
	b.d.UserTypes[name] = ut
}

// handleTableEntry makes _HANDLE_TABLE_ENTRY as Windows 10 has it: two
// 8-byte storage units of bitfields, ObjectPointerBits in the first and
// GrantedAccessBits in the second (bits reversed in the reversed layout).
func (b *symBuilder) handleTableEntry() {
	u64 := symbols.TypeRef{Kind: symbols.KindBase, Name: "unsigned long long"}
	u32 := symbols.TypeRef{Kind: symbols.KindBase, Name: "unsigned long"}
	bf := func(name string, off uint64, store symbols.TypeRef, width, pos, n uint32) symbols.Member {
		if b.reversed {
			pos = width - pos - n
		}
		s := store
		return symbols.Member{Name: name, Offset: off, Type: symbols.TypeRef{Kind: symbols.KindBitfield, Sub: &s, BitPosition: pos, BitLength: n}}
	}
	b.d.UserTypes["_HANDLE_TABLE_ENTRY"] = &symbols.UserType{Kind: symbols.KindUnion, Size: 16, Fields: []symbols.Member{
		{Name: "LowValue", Offset: 0, Type: u64},
		bf("Unlocked", 0, u64, 64, 0, 1),
		bf("RefCnt", 0, u64, 64, 1, 16),
		bf("Attributes", 0, u64, 64, 17, 3),
		bf("ObjectPointerBits", 0, u64, 64, 20, 44),
		bf("GrantedAccessBits", 8, u32, 32, 0, 25),
	}}
}

// hoist copies members of a flags member up into the parent type, at the
// flags member's offset, as a PDB flattens an anonymous struct.
func (b *symBuilder) hoist(typ, flagsMember string, names ...string) {
	ut := b.d.UserTypes[typ]
	for _, m := range ut.Fields {
		if m.Name != flagsMember {
			continue
		}
		for _, f := range b.d.UserTypes[m.Type.Name].Fields {
			for _, n := range names {
				if f.Name == n {
					ut.Fields = append(ut.Fields, symbols.Member{Name: n, Offset: m.Offset + f.Offset, Type: f.Type})
				}
			}
		}
	}
}

func (b *symBuilder) global(name string, rva uint64) {
	b.d.Symbols[name] = symbols.Symbol{Address: rva}
}

func (b *symBuilder) table(t testing.TB) *symbols.Table {
	tab, err := symbols.New(b.d)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// testKernelBase is where the fake ntoskrnl is loaded; globals sit at RVAs
// from it.
const testKernelBase = 0xfffff80000000000

// testSymbols builds the types the unit tests walk, Windows' names and
// shapes, offsets of this builder's choosing.
func testSymbols(t testing.TB, reversed bool) *symbols.Table {
	b := newSymBuilder(reversed)
	b.strct("_LIST_ENTRY", ptrM("Flink"), ptrM("Blink"))
	b.strct("_UNICODE_STRING", uintM("Length", 2), uintM("MaximumLength", 2), ptrM("Buffer"))
	b.strct("_RTL_BALANCED_NODE", ptrM("Left"), ptrM("Right"), uintM("ParentValue", 8))
	b.strct("_RTL_AVL_TREE", ptrM("Root"))
	b.strct("_KPROCESS", uintM("Header", 8), uintM("DirectoryTableBase", 8), b.subM("ThreadListHead", "_LIST_ENTRY"), uintM("UserDirectoryTableBase", 8))
	b.strct("_EPROCESS", b.subM("Pcb", "_KPROCESS"), ptrM("UniqueProcessId"), b.subM("ActiveProcessLinks", "_LIST_ENTRY"),
		ptrM("InheritedFromUniqueProcessId"), ptrM("Peb"), ptrM("ObjectTable"), arrM("ImageFileName", 1, 15),
		b.subM("ThreadListHead", "_LIST_ENTRY"), b.subM("VadRoot", "_RTL_AVL_TREE"))
	b.flags("_MMVAD_FLAGS", 4, bitfield{"Lock", 1}, bitfield{"VadType", 3}, bitfield{"Protection", 5}, bitfield{"PrivateMemory", 1})
	b.flags("_MMVAD_FLAGS1", 4, bitfield{"CommitCharge", 31}, bitfield{"MemCommit", 1})
	b.strct("_MMVAD_SHORT_u", b.subM("VadFlags", "_MMVAD_FLAGS"))
	b.strct("_MMVAD_SHORT_u1", b.subM("VadFlags1", "_MMVAD_FLAGS1"))
	b.strct("_MMVAD_SHORT", b.subM("VadNode", "_RTL_BALANCED_NODE"), uintM("StartingVpn", 4), uintM("EndingVpn", 4),
		uintM("StartingVpnHigh", 1), uintM("EndingVpnHigh", 1), b.subM("u", "_MMVAD_SHORT_u"), b.subM("u1", "_MMVAD_SHORT_u1"))
	b.strct("_MMVAD", b.subM("Core", "_MMVAD_SHORT"), ptrM("Subsection"), ptrM("FirstPrototypePte"))
	b.strct("_CLIENT_ID", ptrM("UniqueProcess"), ptrM("UniqueThread"))
	b.strct("_KAPC_STATE", b.subM("ApcListHead", "_LIST_ENTRY"), ptrM("Process"))
	b.strct("_KTHREAD", uintM("Header", 8), b.subM("ApcState", "_KAPC_STATE"), ptrM("Teb"), uintM("State", 1), ptrM("Process"))
	b.strct("_ETHREAD", b.subM("Tcb", "_KTHREAD"), ptrM("StartAddress"), b.subM("Cid", "_CLIENT_ID"), b.subM("ThreadListEntry", "_LIST_ENTRY"))
	b.strct("_KPRCB", uintM("MxCsr", 4), ptrM("CurrentThread"), ptrM("IdleThread"))
	b.strct("_KPCR", ptrM("GdtBase"), ptrM("Self"), ptrM("CurrentPrcb"), b.subM("Prcb", "_KPRCB"))
	b.strct("_KLDR_DATA_TABLE_ENTRY", b.subM("InLoadOrderLinks", "_LIST_ENTRY"), ptrM("DllBase"), ptrM("EntryPoint"),
		uintM("SizeOfImage", 4), b.subM("FullDllName", "_UNICODE_STRING"), b.subM("BaseDllName", "_UNICODE_STRING"))
	b.handleTableEntry()
	b.strct("_HANDLE_TABLE", uintM("NextHandleNeedingPool", 4), uintM("TableCode", 8), ptrM("QuotaProcess"))
	b.strct("_QUAD", uintM("UseThisFieldToCopy", 8))
	// Body stays last in every layout: the object follows its header.
	b.strctTail("_OBJECT_HEADER", b.subM("Body", "_QUAD"), uintM("PointerCount", 8), uintM("HandleCount", 8), uintM("TypeIndex", 1), uintM("InfoMask", 1))
	b.strct("_OBJECT_TYPE", b.subM("TypeList", "_LIST_ENTRY"), b.subM("Name", "_UNICODE_STRING"), uintM("Index", 1))
	b.strct("_DRIVER_OBJECT", uintM("Type", 2), ptrM("DeviceObject"), b.subM("DriverName", "_UNICODE_STRING"))
	b.strct("_DEVICE_OBJECT", uintM("Type", 2), ptrM("DriverObject"), uintM("Characteristics", 4))
	b.strct("_FILE_OBJECT", uintM("Type", 2), ptrM("DeviceObject"), b.subM("FileName", "_UNICODE_STRING"), uintM("Flags", 4))
	b.flags("_MMPAGING_FILE_FLAGS", 2, bitfield{"PageFileNumber", 4}, bitfield{"WsSwapPagefile", 1}, bitfield{"NoReservations", 1}, bitfield{"VirtualStorePagefile", 1})
	b.strct("_MMPAGING_FILE", uintM("Size", 8), uintM("MaximumSize", 8), uintM("MinimumSize", 8), ptrM("File"),
		b.subM("PageFileName", "_UNICODE_STRING"), b.subM("Flags", "_MMPAGING_FILE_FLAGS"))
	// PageFileNumber and VirtualStorePagefile are direct members in
	// Windows (bitfields of _MMPAGING_FILE itself): hoist them.
	b.hoist("_MMPAGING_FILE", "Flags", "PageFileNumber", "VirtualStorePagefile")
	b.strct("_MI_VISIBLE_PARTITION", uintM("LowestPhysicalPage", 8), uintM("NumberOfPagingFiles", 4), b.ptrArrM("PagingFile", 16))
	b.strct("_MI_PARTITION", uintM("PartitionId", 2), b.subM("Vp", "_MI_VISIBLE_PARTITION"))
	// A fast reference's count sits in the pointer's alignment bits in
	// any layout: only the low bits of an aligned pointer are free.
	rev := b.reversed
	b.reversed = false
	b.flags("_EX_FAST_REF", 8, bitfield{"RefCnt", 4})
	b.reversed = rev
	b.flags("_MMSECTION_FLAGS", 4, bitfield{"BeingDeleted", 1}, bitfield{"Image", 1}, bitfield{"File", 1}, bitfield{"ImageControlAreaOnRemovableMedia", 1})
	b.strct("_CONTROL_AREA_u", b.subM("Flags", "_MMSECTION_FLAGS"))
	b.strct("_CONTROL_AREA", ptrM("Segment"), uintM("NumberOfMappedViews", 8), b.subM("u", "_CONTROL_AREA_u"), b.subM("FilePointer", "_EX_FAST_REF"))
	b.strct("_SUBSECTION", ptrM("ControlArea"), ptrM("SubsectionBase"), ptrM("NextSubsection"), uintM("StartingSector", 4))
	b.global("PsActiveProcessHead", 0x1000)
	b.global("PsLoadedModuleList", 0x1010)
	b.global("PsInitialSystemProcess", 0x1020)
	b.global("ObHeaderCookie", 0x1030)
	b.global("ObpKernelHandleTable", 0x1038)
	b.global("ObTypeIndexTable", 0x1100)
	b.global("MiSystemPartition", 0x2000)
	return b.table(t)
}

// fakeMemory is sparse virtual memory: one address space (the DTB is
// ignored), pages made on first write, reads of absent pages fail.
type fakeMemory struct {
	pages map[uint64]*[4096]byte
	reads atomic.Int64
}

func newFakeMemory() *fakeMemory { return &fakeMemory{pages: map[uint64]*[4096]byte{}} }

func (m *fakeMemory) ReadVirtual(dtb, va uint64, p []byte) error {
	m.reads.Add(1)
	for i := 0; i < len(p); {
		a := va + uint64(i)
		pg, ok := m.pages[a&^0xfff]
		if !ok {
			return fmt.Errorf("fake: page %#x not mapped", a&^0xfff)
		}
		i += copy(p[i:], pg[a&0xfff:])
	}
	return nil
}

func (m *fakeMemory) write(va uint64, p []byte) {
	for i := 0; i < len(p); {
		a := va + uint64(i)
		pg, ok := m.pages[a&^0xfff]
		if !ok {
			pg = new([4096]byte)
			m.pages[a&^0xfff] = pg
		}
		i += copy(pg[a&0xfff:], p[i:])
	}
}

// guest writes structures through the test symbols.
type guest struct {
	t   testing.TB
	tab *symbols.Table
	mem *fakeMemory
	// next is a bump allocator for objects, 16-byte aligned.
	next uint64
}

func newGuest(t testing.TB, reversed bool) *guest {
	g := &guest{t: t, tab: testSymbols(t, reversed), mem: newFakeMemory(), next: 0xffffa00000010000}
	g.mem.write(testKernelBase, make([]byte, 0x4000)) // the image's globals
	return g
}

func (g *guest) alloc(typ string) uint64 {
	n, err := g.tab.Size(typ)
	if err != nil {
		g.t.Fatal(err)
	}
	va := g.next
	g.mem.write(va, make([]byte, n))
	g.next += (n + 15) &^ 15
	return va
}

func (g *guest) allocBytes(n uint64) uint64 {
	va := g.next
	g.mem.write(va, make([]byte, n))
	g.next += (n + 15) &^ 15
	return va
}

// set writes value into the member at path of the typ at va, bitfields
// included.
func (g *guest) set(typ string, va uint64, path string, value uint64) {
	g.t.Helper()
	f, err := g.tab.Field(typ + "." + path)
	if err != nil {
		g.t.Fatal(err)
	}
	buf := make([]byte, 8)
	if err := g.mem.ReadVirtual(0, va+f.Offset, buf[:f.Size]); err != nil {
		g.t.Fatal(err)
	}
	raw := binary.LittleEndian.Uint64(buf)
	if f.Kind == symbols.KindBitfield {
		mask := (uint64(1)<<f.BitLength - 1) << f.BitPosition
		raw = raw&^mask | (value<<f.BitPosition)&mask
	} else {
		raw = value
	}
	binary.LittleEndian.PutUint64(buf, raw)
	g.mem.write(va+f.Offset, buf[:f.Size])
}

func (g *guest) addr(typ string, va uint64, path string) uint64 {
	f, err := g.tab.Field(typ + "." + path)
	if err != nil {
		g.t.Fatal(err)
	}
	return va + f.Offset
}

func (g *guest) global(name string) uint64 {
	rva, err := g.tab.Address(name)
	if err != nil {
		g.t.Fatal(err)
	}
	return testKernelBase + rva
}

func (g *guest) kernel() *Kernel {
	k, err := NewKernel(KernelConfig{Base: testKernelBase, Symbols: g.tab, DTB: 0x1000, Memory: g.mem})
	if err != nil {
		g.t.Fatal(err)
	}
	return k
}

// initList makes an empty LIST_ENTRY at head.
func (g *guest) initList(head uint64) {
	g.set("_LIST_ENTRY", head, "Flink", head)
	g.set("_LIST_ENTRY", head, "Blink", head)
}

// insertTail links entry at the end of the list at head.
func (g *guest) insertTail(head, entry uint64) {
	last := g.u64(g.addr("_LIST_ENTRY", head, "Blink"))
	g.set("_LIST_ENTRY", entry, "Flink", head)
	g.set("_LIST_ENTRY", entry, "Blink", last)
	g.set("_LIST_ENTRY", last, "Flink", entry)
	g.set("_LIST_ENTRY", head, "Blink", entry)
}

func (g *guest) u64(va uint64) uint64 {
	var b [8]byte
	if err := g.mem.ReadVirtual(0, va, b[:]); err != nil {
		g.t.Fatal(err)
	}
	return binary.LittleEndian.Uint64(b[:])
}

// process makes an EPROCESS and links it on PsActiveProcessHead.
func (g *guest) process(pid, parent, dtb uint64, name string) uint64 {
	ep := g.alloc("_EPROCESS")
	g.set("_EPROCESS", ep, "UniqueProcessId", pid)
	g.set("_EPROCESS", ep, "InheritedFromUniqueProcessId", parent)
	g.set("_EPROCESS", ep, "Pcb.DirectoryTableBase", dtb)
	g.mem.write(g.addr("_EPROCESS", ep, "ImageFileName"), []byte(name))
	g.initList(g.addr("_EPROCESS", ep, "ThreadListHead"))
	g.initList(g.addr("_EPROCESS", ep, "Pcb.ThreadListHead"))
	g.insertTail(g.global("PsActiveProcessHead"), g.addr("_EPROCESS", ep, "ActiveProcessLinks"))
	return ep
}

// forBothLayouts runs a test on the declaration-order and the reversed
// layout: code that assumed an offset passes one and fails the other.
func forBothLayouts(t *testing.T, fn func(t *testing.T, g *guest)) {
	for _, rev := range []bool{false, true} {
		name := "declared"
		if rev {
			name = "reversed"
		}
		t.Run(name, func(t *testing.T) {
			g := newGuest(t, rev)
			g.initList(g.global("PsActiveProcessHead"))
			fn(t, g)
		})
	}
}

// unicode writes a UNICODE_STRING for s at va (a member of some type).
func (g *guest) unicode(va uint64, s string) {
	buf := g.allocBytes(uint64(2*len(s)) + 2)
	w := make([]byte, 2*len(s))
	for i, r := range s {
		w[2*i] = byte(r)
		w[2*i+1] = byte(r >> 8)
	}
	g.mem.write(buf, w)
	g.set("_UNICODE_STRING", va, "Length", uint64(len(w)))
	g.set("_UNICODE_STRING", va, "MaximumLength", uint64(len(w)+2))
	g.set("_UNICODE_STRING", va, "Buffer", buf)
}

// fakeRegisters is a register snapshot by name.
type fakeRegisters map[string]uint64

func (r fakeRegisters) Uint(name string) (uint64, error) {
	v, ok := r[name]
	if !ok {
		return 0, fmt.Errorf("fake: no register %s", name)
	}
	return v, nil
}

// ReadAt makes fakeMemory a pe.Memory too.
func (m *fakeMemory) ReadAt(p []byte, addr uint64) (int, error) {
	if err := m.ReadVirtual(0, addr, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
