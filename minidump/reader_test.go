package minidump

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// parsed is what the test's own reader gets back from a file: a second,
// independent reading of the format (offsets from minidumpapiset.h), so a
// writer bug that moves a field shows as a mismatch.
type parsed struct {
	flags   uint64
	time    uint32
	streams map[uint32][2]uint32 // type → size, rva
	system  SystemInfo
	arch    uint16
	plat    uint32
	pid     uint32
	modules []Module
	threads []Thread
	stacks  [][2]uint32 // size, rva of each thread's stack bytes
	memory  []Range
	memRVA  uint64
	comment string
	file    []byte
}

func parse(f []byte) (*parsed, error) {
	le := binary.LittleEndian
	if len(f) < 32 || le.Uint32(f) != signature || le.Uint16(f[4:]) != version {
		return nil, fmt.Errorf("no MDMP header")
	}
	p := &parsed{streams: map[uint32][2]uint32{}, file: f}
	n, dir := le.Uint32(f[8:]), le.Uint32(f[12:])
	p.time, p.flags = le.Uint32(f[20:]), le.Uint64(f[24:])
	for i := uint32(0); i < n; i++ {
		e := f[dir+12*i:]
		p.streams[le.Uint32(e)] = [2]uint32{le.Uint32(e[4:]), le.Uint32(e[8:])}
	}
	str := func(rva uint32) string {
		l := le.Uint32(f[rva:])
		u := make([]uint16, l/2)
		for i := range u {
			u[i] = le.Uint16(f[rva+4+2*uint32(i):])
		}
		return string(utf16.Decode(u))
	}
	if s, ok := p.streams[streamSystemInfo]; ok {
		b := f[s[1]:]
		p.arch, p.plat = le.Uint16(b), le.Uint32(b[20:])
		p.system = SystemInfo{ProcessorLevel: le.Uint16(b[2:]), ProcessorRevision: le.Uint16(b[4:]), NumberOfProcessors: b[6],
			MajorVersion: le.Uint32(b[8:]), MinorVersion: le.Uint32(b[12:]), BuildNumber: le.Uint32(b[16:])}
		_ = str(le.Uint32(b[24:]))
	}
	if s, ok := p.streams[streamMiscInfo]; ok {
		p.pid = le.Uint32(f[s[1]+8:])
	}
	if s, ok := p.streams[streamModuleList]; ok {
		b := f[s[1]:]
		cnt := le.Uint32(b)
		if 4+cnt*moduleSize != s[0] {
			return nil, fmt.Errorf("module list: %d modules in %d bytes", cnt, s[0])
		}
		for i := uint32(0); i < cnt; i++ {
			m := b[4+i*moduleSize:]
			mod := Module{Base: le.Uint64(m), Size: le.Uint32(m[8:]), CheckSum: le.Uint32(m[12:]), TimeDateStamp: le.Uint32(m[16:]), Name: str(le.Uint32(m[20:]))}
			if cvs, cvr := le.Uint32(m[76:]), le.Uint32(m[80:]); cvs > 0 {
				cv := f[cvr : cvr+cvs]
				if le.Uint32(cv) != cvRSDS || cv[len(cv)-1] != 0 {
					return nil, fmt.Errorf("module %d: CvRecord is not RSDS", i)
				}
				copy(mod.PDB.GUID[:], cv[4:20])
				mod.PDB.Age = le.Uint32(cv[20:])
				mod.PDB.Name = string(cv[24 : len(cv)-1])
			}
			p.modules = append(p.modules, mod)
		}
	}
	if s, ok := p.streams[streamThreadList]; ok {
		b := f[s[1]:]
		cnt := le.Uint32(b)
		for i := uint32(0); i < cnt; i++ {
			t := b[4+i*threadSize:]
			th := Thread{ID: le.Uint32(t), SuspendCount: le.Uint32(t[4:]), PriorityClass: le.Uint32(t[8:]), Priority: le.Uint32(t[12:]), TEB: le.Uint64(t[16:])}
			th.Stack.Base = le.Uint64(t[24:])
			th.Stack.Size = uint64(le.Uint32(t[32:]))
			p.stacks = append(p.stacks, [2]uint32{le.Uint32(t[32:]), le.Uint32(t[36:])})
			if le.Uint32(t[40:]) != contextSize {
				return nil, fmt.Errorf("thread %d: context of %d bytes", i, le.Uint32(t[40:]))
			}
			c := f[le.Uint32(t[44:]):]
			ctx := Context{Flags: le.Uint32(c[0x30:]), MxCsr: le.Uint32(c[0x34:]),
				SegCs: le.Uint16(c[0x38:]), SegDs: le.Uint16(c[0x3a:]), SegEs: le.Uint16(c[0x3c:]), SegFs: le.Uint16(c[0x3e:]),
				SegGs: le.Uint16(c[0x40:]), SegSs: le.Uint16(c[0x42:]), EFlags: le.Uint32(c[0x44:])}
			regs := []*uint64{&ctx.Dr0, &ctx.Dr1, &ctx.Dr2, &ctx.Dr3, &ctx.Dr6, &ctx.Dr7,
				&ctx.Rax, &ctx.Rcx, &ctx.Rdx, &ctx.Rbx, &ctx.Rsp, &ctx.Rbp, &ctx.Rsi, &ctx.Rdi,
				&ctx.R8, &ctx.R9, &ctx.R10, &ctx.R11, &ctx.R12, &ctx.R13, &ctx.R14, &ctx.R15, &ctx.Rip}
			for j, r := range regs {
				*r = le.Uint64(c[0x48+8*j:])
			}
			th.Context = ctx
			p.threads = append(p.threads, th)
		}
	}
	if s, ok := p.streams[streamCommentW]; ok {
		b := f[s[1] : s[1]+s[0]]
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = le.Uint16(b[2*i:])
		}
		for len(u) > 0 && u[len(u)-1] == 0 {
			u = u[:len(u)-1]
		}
		p.comment = string(utf16.Decode(u))
	}
	if s, ok := p.streams[streamMemory64List]; ok {
		b := f[s[1]:]
		cnt := le.Uint64(b)
		p.memRVA = le.Uint64(b[8:])
		for i := uint64(0); i < cnt; i++ {
			d := b[16+16*i:]
			p.memory = append(p.memory, Range{le.Uint64(d), le.Uint64(d[8:])})
		}
	}
	return p, nil
}

// read returns the dump's bytes at [addr, addr+n) from its memory list.
func (p *parsed) read(addr, n uint64) ([]byte, bool) {
	at := p.memRVA
	for _, r := range p.memory {
		if r.Base <= addr && addr+n <= r.End() {
			o := at + addr - r.Base
			return p.file[o : o+n], true
		}
		at += r.Size
	}
	return nil, false
}
