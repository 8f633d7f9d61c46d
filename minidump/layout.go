package minidump

import (
	"encoding/binary"
)

var le = binary.LittleEndian

// buf builds the small part of the file: append, and remember offsets.
type buf struct{ b []byte }

func (b *buf) off() uint32 { return uint32(len(b.b)) }

func (b *buf) pad(a uint64) {
	for uint64(len(b.b))%a != 0 {
		b.b = append(b.b, 0)
	}
}

// reserve appends n zero bytes and returns their offset.
func (b *buf) reserve(n int) uint32 {
	o := b.off()
	b.b = append(b.b, make([]byte, n)...)
	return o
}

func (b *buf) bytes(p []byte) uint32 {
	o := b.off()
	b.b = append(b.b, p...)
	return o
}

// minidumpString appends a MINIDUMP_STRING (byte length, UTF-16, NUL).
func (b *buf) minidumpString(s string) uint32 {
	b.pad(4)
	u := utf16z(s)
	o := b.reserve(4)
	le.PutUint32(b.b[o:], uint32(len(u)-2))
	b.bytes(u)
	return o
}

func (p *Plan) layout() {
	d := &p.d
	nstreams := 5 // system, misc, modules, threads, memory64
	if d.Comment != "" {
		nstreams++
	}
	var b buf
	b.reserve(headerSize)
	dir := b.reserve(nstreams * directorySize)

	add := func(typ uint32, rva, size uint32) {
		p.streams = append(p.streams, stream{typ, rva, size})
	}

	// SystemInfoStream, its (empty) service pack string after it.
	b.pad(8)
	sys := b.reserve(systemInfoSize)
	csd := b.minidumpString("")
	p.putSystem(b.b[sys:], csd)
	add(streamSystemInfo, sys, systemInfoSize)

	b.pad(8)
	misc := b.reserve(miscInfoSize)
	p.putMisc(b.b[misc:])
	add(streamMiscInfo, misc, miscInfoSize)

	// ModuleListStream; the names and CodeView records follow it.
	b.pad(8)
	mods := b.reserve(4 + moduleSize*len(d.Modules))
	le.PutUint32(b.b[mods:], uint32(len(d.Modules)))
	add(streamModuleList, mods, uint32(4+moduleSize*len(d.Modules)))
	for i, m := range d.Modules {
		name := b.minidumpString(m.Name)
		var cv, cvSize uint32
		if m.PDB.Name != "" {
			b.pad(4)
			rec := rsdsRecord(m.PDB)
			cv, cvSize = b.bytes(rec), uint32(len(rec))
		}
		putModule(b.b[int(mods)+4+i*moduleSize:], m, name, cv, cvSize)
	}

	// ThreadListStream; the contexts follow it. The thread records are
	// filled once the memory layout is known (their stacks point into it).
	b.pad(8)
	threads := b.reserve(4 + threadSize*len(d.Threads))
	le.PutUint32(b.b[threads:], uint32(len(d.Threads)))
	add(streamThreadList, threads, uint32(4+threadSize*len(d.Threads)))
	ctxs := make([]uint32, len(d.Threads))
	for i, t := range d.Threads {
		b.pad(16)
		ctxs[i] = b.reserve(contextSize)
		putContext(b.b[ctxs[i]:], t.Context)
	}

	if d.Comment != "" {
		b.pad(4)
		c := b.bytes(utf16z(d.Comment))
		add(streamCommentW, c, b.off()-c)
	}

	// Memory64ListStream: its descriptors, then (last in the file) the
	// bytes of every range back to back from BaseRva.
	b.pad(8)
	m64 := b.reserve(memory64ListHdr + memDesc64Size*len(d.Memory))
	add(streamMemory64List, m64, uint32(memory64ListHdr+memDesc64Size*len(d.Memory)))
	b.pad(16)
	p.memRVA = uint64(b.off())
	le.PutUint64(b.b[m64:], uint64(len(d.Memory)))
	le.PutUint64(b.b[m64+8:], p.memRVA)
	p.rangeRVA = make([]uint64, len(d.Memory))
	at := p.memRVA
	for i, r := range d.Memory {
		o := int(m64) + memory64ListHdr + i*memDesc64Size
		le.PutUint64(b.b[o:], r.Base)
		le.PutUint64(b.b[o+8:], r.Size)
		p.rangeRVA[i] = at
		at += r.Size
	}
	p.size = at

	for i, t := range d.Threads {
		p.putThread(b.b[int(threads)+4+i*threadSize:], t, ctxs[i])
	}

	// Header and directory last: they point at everything above.
	le.PutUint32(b.b[0:], signature)
	le.PutUint32(b.b[4:], version)
	le.PutUint32(b.b[8:], uint32(len(p.streams)))
	le.PutUint32(b.b[12:], dir)
	le.PutUint32(b.b[16:], 0) // CheckSum: unused by every reader
	le.PutUint32(b.b[20:], timeDate(d.Time))
	le.PutUint64(b.b[24:], typeWithFullMemory)
	for i, s := range p.streams {
		o := int(dir) + i*directorySize
		le.PutUint32(b.b[o:], s.typ)
		le.PutUint32(b.b[o+4:], s.size)
		le.PutUint32(b.b[o+8:], s.rva)
	}
	p.small = b.b
}
