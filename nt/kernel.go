package nt

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/frostvmi/frost/symbols"
)

// Limits bound every walk of guest structures. Guest memory is untrusted:
// a list that never returns to its head, or a tree with a cycle, must end
// in an error, not a hang. Zero fields take the defaults.
type Limits struct {
	Processes int // entries of PsActiveProcessHead (default 1<<16)
	Threads   int // threads per process (default 1<<16)
	Modules   int // entries of PsLoadedModuleList (default 1<<12)
	VADs      int // VADs per process (default 1<<20)
	VADDepth  int // VAD tree depth (default 128: an AVL tree of 2^64 nodes is shallower)
	Handles   int // handle table entries examined per table (default 1<<24)
	String    int // bytes of one UNICODE_STRING (default 65534, its own maximum)
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.Processes, 1<<16)
	def(&l.Threads, 1<<16)
	def(&l.Modules, 1<<12)
	def(&l.VADs, 1<<20)
	def(&l.VADDepth, 128)
	def(&l.Handles, 1<<24)
	def(&l.String, 0xfffe)
	return l
}

// KernelConfig describes a kernel already found: where its image is, its
// symbols, its page tables, and how to read its memory.
type KernelConfig struct {
	// Base is the image base of ntoskrnl in the kernel's address space.
	Base uint64
	// Symbols are ntoskrnl's (PDB or ISF), with RVAs.
	Symbols symbols.Symbols
	// DTB is the kernel's directory table base: the System process's.
	DTB uint64
	// Memory reads guest virtual memory.
	Memory VirtualMemory
	Limits Limits
}

// Kernel is one Windows kernel in one guest. It reads the guest each time
// it is asked: nothing is cached across calls but symbol answers, because
// the guest runs between calls. It is safe for concurrent use.
type Kernel struct {
	base uint64
	sym  symbols.Symbols
	lay  *layout
	dtb  uint64
	// mem is swapped whole by SetMemory while other goroutines read.
	mem    atomic.Pointer[memBox]
	limits Limits

	// byDTB caches DTB → EPROCESS for the VAD resolver, which translation
	// calls per page; a miss re-walks the process list.
	mu    sync.Mutex
	byDTB map[uint64]uint64
}

// NewKernel makes a Kernel from what the caller already knows. Open finds
// all of it in a running guest.
func NewKernel(cfg KernelConfig) (*Kernel, error) {
	if cfg.Symbols == nil || cfg.Memory == nil {
		return nil, fmt.Errorf("nt: NewKernel needs Symbols and Memory")
	}
	if cfg.Base == 0 {
		return nil, fmt.Errorf("nt: NewKernel needs the kernel's base")
	}
	k := &Kernel{
		base:   cfg.Base,
		sym:    cfg.Symbols,
		lay:    newLayout(cfg.Symbols),
		dtb:    cfg.DTB,
		limits: cfg.Limits.withDefaults(),
		byDTB:  map[uint64]uint64{},
	}
	k.mem.Store(&memBox{cfg.Memory})
	return k, nil
}

// Base is ntoskrnl's image base.
func (k *Kernel) Base() uint64 { return k.base }

// Symbols are ntoskrnl's symbols.
func (k *Kernel) Symbols() symbols.Symbols { return k.sym }

// DTB is the kernel's directory table base.
func (k *Kernel) DTB() uint64 { return k.dtb }

// Memory is what the kernel reads through.
func (k *Kernel) Memory() VirtualMemory { return k.mem.Load().m }

// memBox lets an atomic pointer hold any VirtualMemory.
type memBox struct{ m VirtualMemory }

// SetMemory replaces the reader, e.g. with a Translator that has the
// paging files once they exist. Calls in flight finish with the old one.
func (k *Kernel) SetMemory(m VirtualMemory) {
	if m != nil {
		k.mem.Store(&memBox{m})
	}
}

// Address returns the VA of an ntoskrnl symbol (nt!Name).
func (k *Kernel) Address(name string) (uint64, error) { return k.global(name) }

// Describe names a kernel VA as a debugger does: nt!NtWriteFile+0x1c.
func (k *Kernel) Describe(va uint64) string {
	if va < k.base {
		return fmt.Sprintf("%#x", va)
	}
	return symbols.Describe("nt", k.sym, va-k.base)
}
