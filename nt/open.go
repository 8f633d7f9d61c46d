package nt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/translate"
)

// SymbolLoader finds a module's symbols by its identity; symbols/store's
// Store is one.
type SymbolLoader interface {
	Load(ctx context.Context, id symbols.Identity) (*symbols.Table, string, error)
}

// Config is what Open needs of a guest.
type Config struct {
	// Physical reads guest-physical memory (vmi/physmem).
	Physical translate.Physical
	// Registers is a stopped vCPU's snapshot: cr3, cs and rip, gs_base
	// and k_gs_base.
	Registers Registers
	// IDTBase, when not 0, is IDTR's base (HMP `info registers`): the
	// scan starts from vector 0's handler, so it works whatever mode the
	// vCPU stopped in. Otherwise it tries the stop's kernel RIP, RSP and
	// GS bases.
	IDTBase uint64
	// From, when not 0, is an address believed to lie inside ntoskrnl
	// (its base, a handler seen at a stop): the scan starts there alone.
	From uint64
	// Symbols loads ntoskrnl's PDB or ISF by its RSDS identity.
	Symbols SymbolLoader

	Pagefiles PagefileOpener
	Files     translate.FileResolver
	Limits    Limits
}

// Opened is a kernel found in a running guest, with the Translator it
// reads through.
type Opened struct {
	*Kernel
	Image      KernelImage
	SymbolFile string // where the symbols came from
	Translator *translate.Translator
	// Loader finds other modules' PDBs (the store Open used); nil: their
	// export tables name them.
	Loader SymbolLoader

	symOnce sync.Once
	syms    *Symbolizer
}

// Symbolizer names and resolves addresses in every loaded module, kernel
// and user, for this kernel's life.
func (o *Opened) Symbolizer() *Symbolizer {
	o.symOnce.Do(func() { o.syms = NewSymbolizer(o.Kernel, o.Loader) })
	return o.syms
}

// Open finds the kernel in a stopped guest and builds its model:
//  1. addresses inside or near ntoskrnl: From, IDT vector 0's handler, or
//     the stop's kernel RIP, RSP and GS bases (LSTAR is not readable
//     through QEMU's stub, and nothing is brute-forced);
//  2. the image: FindKernel, by a hardware walk of CR3's page tables;
//  3. its symbols, by the RSDS identity;
//  4. the kernel DTB: PsInitialSystemProcess's DirectoryTableBase (CR3
//     itself before the System process exists);
//  5. a Translator (every PTE state, the kernel as VAD resolver, the
//     paging files registered so far), through which the kernel reads
//     from then on.
func Open(ctx context.Context, cfg Config) (*Opened, error) {
	if cfg.Physical == nil || cfg.Registers == nil || cfg.Symbols == nil {
		return nil, errors.New("nt: Open needs Physical, Registers and Symbols")
	}
	cr3, err := cfg.Registers.Uint("cr3")
	if err != nil {
		return nil, fmt.Errorf("nt: reading cr3: %w", err)
	}
	hw := HardwareMemory{Physical: cfg.Physical, CR3: cr3}
	starts, err := startAddresses(hw, cfg)
	if err != nil {
		return nil, err
	}
	img, err := findFrom(hw, starts)
	if err != nil {
		return nil, err
	}
	tab, file, err := cfg.Symbols.Load(ctx, img.Image.ID)
	if err != nil {
		return nil, fmt.Errorf("nt: symbols of the kernel at %#x (%v): %w", img.Base, img.Image.ID, err)
	}
	k, err := NewKernel(KernelConfig{Base: img.Base, Symbols: tab, DTB: cr3, Memory: hw, Limits: cfg.Limits})
	if err != nil {
		return nil, err
	}
	if dtb, err := k.systemDTB(); err != nil {
		return nil, err
	} else if dtb != 0 {
		k.dtb = dtb
	}
	tr, err := k.NewTranslator(TranslatorOptions{Physical: cfg.Physical, Pagefiles: cfg.Pagefiles, Files: cfg.Files})
	if err != nil {
		return nil, err
	}
	k.SetMemory(TranslatorMemory{tr})
	return &Opened{Kernel: k, Image: img, SymbolFile: file, Translator: tr, Loader: cfg.Symbols}, nil
}

// startAddresses lists where the scan for ntoskrnl may start, best first:
// the caller's From, IDT vector 0's handler, then every kernel-half
// address the stopped vCPU holds. RIP counts only in kernel mode; early in
// a boot RIP may still be in a loader, and in user mode it is useless, while
// RSP and the GS bases (the KPCR, in gs_base or, in user mode, k_gs_base)
// often point into or near the kernel.
func startAddresses(hw HardwareMemory, cfg Config) ([]uint64, error) {
	if cfg.From != 0 {
		return []uint64{cfg.From}, nil
	}
	if cfg.IDTBase != 0 {
		h, err := IDTHandler(hw, cfg.IDTBase, 0)
		if err != nil {
			return nil, err
		}
		return []uint64{h}, nil
	}
	km, err := kernelMode(cfg.Registers)
	if err != nil {
		return nil, err
	}
	var starts []uint64
	for _, name := range []string{"rip", "rsp", "gs_base", "k_gs_base"} {
		v, err := cfg.Registers.Uint(name)
		if err != nil || v < kernelHalf || (name == "rip" && !km) || slices.Contains(starts, v) {
			continue
		}
		starts = append(starts, v)
	}
	if len(starts) == 0 {
		return nil, fmt.Errorf("%w: give the IDT base", ErrNoKernelAddress)
	}
	return starts, nil
}

// findFrom scans from each start in turn. When none leads to the kernel,
// the error names every address tried: on a guest that is not Windows,
// that is the whole answer.
func findFrom(hw HardwareMemory, starts []uint64) (KernelImage, error) {
	var tried []string
	for _, from := range starts {
		img, err := FindKernel(hw, from)
		if err == nil {
			return img, nil
		}
		if !errors.Is(err, ErrKernelNotFound) || len(starts) == 1 {
			return img, err // one start: its own error says what it passed over
		}
		tried = append(tried, fmt.Sprintf("%#x", from))
	}
	return KernelImage{}, fmt.Errorf("%w: no PE image naming %s within %d MiB below %s (the stopped vCPU's kernel RIP, RSP and GS bases, or the IDT)",
		ErrKernelNotFound, strings.Join(KernelPDBNames, "/"), ScanLimit>>20, strings.Join(tried, ", "))
}

// kernelHalf is where x86-64's canonical upper half begins, where Windows
// maps ntoskrnl.
const kernelHalf = 0xffff800000000000

// systemDTB is the System process's DirectoryTableBase, or 0 before
// PsInitialSystemProcess is set.
func (k *Kernel) systemDTB() (uint64, error) {
	va, err := k.global("PsInitialSystemProcess")
	if err != nil {
		return 0, err
	}
	ep, err := k.pointer("PsInitialSystemProcess", va)
	if err != nil || ep == 0 {
		return 0, err
	}
	p, err := k.ProcessAt(ep)
	if err != nil {
		return 0, err
	}
	return p.DTB, nil
}
