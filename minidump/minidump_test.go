package minidump

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// pattern is the test's guest memory: every byte says its own address, so
// a range written at the wrong offset reads back wrong.
func pattern(p []byte, addr uint64) error {
	for i := range p {
		a := addr + uint64(i)
		p[i] = byte(a>>12) ^ byte(a) ^ byte(a>>20)
	}
	return nil
}

func sample() Dump {
	return Dump{
		System:  SystemInfo{MajorVersion: 10, BuildNumber: 19041, NumberOfProcessors: 2},
		Process: ProcessInfo{PID: 1234, CreateTime: time.Unix(1700000000, 0)},
		Modules: []Module{
			{Base: 0x140000000, Size: 0x5000, CheckSum: 0x1234, TimeDateStamp: 0x5f000000, Name: `C:\frost\writer.exe`,
				PDB: RSDS{GUID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Age: 3, Name: "writer.pdb"}},
			{Base: 0x7ffe0000000, Size: 0x10000, Name: `C:\Windows\System32\ntdll.dll`},
		},
		Threads: []Thread{{ID: 88, TEB: 0x7ff00000, Stack: Range{0x20f000, 0x1000},
			Context: Context{Flags: ContextControl | ContextInteger, Rip: 0x140001234, Rsp: 0x20f800, Rax: 7, R15: 15, SegCs: 0x33, SegSs: 0x2b, EFlags: 0x246}}},
		Memory:  []Range{{0x20e000, 0x2000}, {0x140000000, 0x5000}, {0x7ffe0000000, 0x3000}},
		Comment: "pages from the paging file: none\nunread: 0x7ffe0003000",
		Time:    time.Unix(1700000100, 0),
	}
}

func TestWriteParsesBack(t *testing.T) {
	d := sample()
	p, err := NewPlan(d)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := p.Write(&out, pattern)
	if err != nil {
		t.Fatal(err)
	}
	if n != p.Size() || uint64(out.Len()) != p.Size() {
		t.Fatalf("wrote %d (%d in buffer), planned %d", n, out.Len(), p.Size())
	}
	if p.MemoryBytes() != 0x2000+0x5000+0x3000 {
		t.Errorf("MemoryBytes %#x", p.MemoryBytes())
	}
	got, err := parse(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got.arch != processorAMD64 || got.plat != platformWin32NT {
		t.Errorf("arch %d platform %d", got.arch, got.plat)
	}
	if got.system != d.System || got.pid != 1234 || got.time != 1700000100 {
		t.Errorf("system %+v pid %d time %d", got.system, got.pid, got.time)
	}
	if got.flags&typeWithFullMemory == 0 {
		t.Errorf("flags %#x lack MiniDumpWithFullMemory", got.flags)
	}
	if !reflect.DeepEqual(got.modules, d.Modules) {
		t.Errorf("modules:\n got %+v\nwant %+v", got.modules, d.Modules)
	}
	want := d.Threads[0]
	want.Context.Flags |= ContextAMD64
	if !reflect.DeepEqual(got.threads[0], want) {
		t.Errorf("thread:\n got %+v\nwant %+v", got.threads[0], want)
	}
	if !reflect.DeepEqual(got.memory, d.Memory) {
		t.Errorf("memory list %v, want %v", got.memory, d.Memory)
	}
	if got.comment != d.Comment {
		t.Errorf("comment %q", got.comment)
	}
	for _, r := range d.Memory {
		b, ok := got.read(r.Base, r.Size)
		w := make([]byte, r.Size)
		pattern(w, r.Base)
		if !ok || !bytes.Equal(b, w) {
			t.Errorf("range %#x: bytes differ", r.Base)
		}
	}
	// The stack descriptor points at the stack's bytes in the memory list.
	st := got.stacks[0]
	w := make([]byte, 0x1000)
	pattern(w, 0x20f000)
	if st[0] != 0x1000 || !bytes.Equal(out.Bytes()[st[1]:st[1]+st[0]], w) {
		t.Errorf("stack descriptor %v does not point at the stack's bytes", st)
	}
	// Memory is the last thing in the file.
	if p.MemoryOffset()+p.MemoryBytes() != p.Size() {
		t.Errorf("memory at %#x+%#x, file %#x", p.MemoryOffset(), p.MemoryBytes(), p.Size())
	}
}

// A stack outside every range (its pages unreadable) keeps its start but
// points at no bytes, rather than at someone else's.
func TestStackOutsideMemory(t *testing.T) {
	d := sample()
	d.Threads[0].Stack = Range{0x300000, 0x1000}
	p, err := NewPlan(d)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := p.Write(&out, pattern); err != nil {
		t.Fatal(err)
	}
	got, _ := parse(out.Bytes())
	if got.stacks[0] != [2]uint32{0, 0} || got.threads[0].Stack.Base != 0x300000 {
		t.Errorf("stack %v base %#x", got.stacks[0], got.threads[0].Stack.Base)
	}
}

// Write asks for memory in bounded chunks, in file order, and never more
// than ChunkSize at once: the dump streams.
func TestWriteStreamsInChunks(t *testing.T) {
	d := sample()
	d.Memory = []Range{{0x10000, 3*ChunkSize + 0x1000}, {0x10000000, 0x1000}}
	p, err := NewPlan(d)
	if err != nil {
		t.Fatal(err)
	}
	var calls []Range
	var sink countWriter
	_, err = p.Write(&sink, func(b []byte, a uint64) error {
		if len(b) > ChunkSize {
			t.Fatalf("chunk of %d", len(b))
		}
		calls = append(calls, Range{a, uint64(len(b))})
		return pattern(b, a)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Range{{0x10000, ChunkSize}, {0x10000 + ChunkSize, ChunkSize}, {0x10000 + 2*ChunkSize, ChunkSize}, {0x10000 + 3*ChunkSize, 0x1000}, {0x10000000, 0x1000}}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("reads %v, want %v", calls, want)
	}
	if uint64(sink) != p.Size() {
		t.Errorf("wrote %d, planned %d", sink, p.Size())
	}
}

type countWriter uint64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// A read error stops the dump with the address; nothing is made up.
func TestWriteReadError(t *testing.T) {
	p, err := NewPlan(sample())
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("page gone")
	_, err = p.Write(&bytes.Buffer{}, func(b []byte, a uint64) error {
		if a == 0x140000000 {
			return boom
		}
		return pattern(b, a)
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "0x140000000") {
		t.Errorf("err %v", err)
	}
}

func TestPlanRejects(t *testing.T) {
	for name, mod := range map[string]func(*Dump){
		"overlap":  func(d *Dump) { d.Memory = []Range{{0x1000, 0x2000}, {0x2000, 0x1000}} },
		"order":    func(d *Dump) { d.Memory = []Range{{0x5000, 0x1000}, {0x1000, 0x1000}} },
		"empty":    func(d *Dump) { d.Memory = []Range{{0x5000, 0}} },
		"wrap":     func(d *Dump) { d.Memory = []Range{{^uint64(0) - 0xfff, 0x2000}} },
		"longname": func(d *Dump) { d.Modules[0].Name = strings.Repeat("a", maxString+1) },
	} {
		d := sample()
		mod(&d)
		if _, err := NewPlan(d); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
}
