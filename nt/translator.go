package nt

import (
	"fmt"

	"github.com/frostvmi/frost/translate"
)

// SwizzleMask reads what the kernel uses to swizzle invalid PTEs (the L1TF
// mitigation) and chooses the mask as translate.SwizzleMask does:
// MiState.Hardware.InvalidPteMask when the build has it, else from
// KiImplementedPhysicalBits.
func (k *Kernel) SwizzleMask(l *translate.Layout) (uint64, error) {
	var src translate.SwizzleSource
	if f, err := k.lay.field("_MI_SYSTEM_INFORMATION.Hardware.InvalidPteMask"); err == nil {
		state, err := k.global("MiState")
		if err != nil {
			return 0, err
		}
		if src.InvalidPteMask, err = k.readUint("MiState.Hardware.InvalidPteMask", k.dtb, state+f.Offset, f); err != nil {
			return 0, err
		}
		src.HaveInvalidPteMask = true
	} else if va, err := k.global("KiImplementedPhysicalBits"); err == nil {
		var b [4]byte
		if err := k.read("KiImplementedPhysicalBits", k.dtb, va, b[:]); err != nil {
			return 0, err
		}
		src.ImplementedPhysicalBits = int64(int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24))
	}
	// With neither symbol the kernel predates the mitigation: no mask.
	return translate.SwizzleMask(l, src), nil
}

// TranslatorOptions are the inputs of a Translator the kernel cannot find
// itself.
type TranslatorOptions struct {
	Physical translate.Physical
	// Pagefiles supplies paging-file contents; nil reports pagefile
	// pages by location only.
	Pagefiles PagefileOpener
	// Files supplies mapped files; nil reports file-backed pages by
	// location only.
	Files      translate.FileResolver
	TLBEntries int
}

// NewTranslator builds a Translator for this kernel: the PTE Layout and
// swizzle mask from its symbols and memory, its DTB for kernel VAs, the
// kernel as VAD resolver, and the paging files registered now. Paging
// files registered later (smss creates them during boot) need a new
// Translator.
func (k *Kernel) NewTranslator(opt TranslatorOptions) (*translate.Translator, error) {
	if opt.Physical == nil {
		return nil, fmt.Errorf("nt: NewTranslator needs Physical")
	}
	l, err := NewLayout(k.sym)
	if err != nil {
		return nil, fmt.Errorf("nt: PTE layout from %v: %w", k.sym.Identity(), err)
	}
	mask, err := k.SwizzleMask(l)
	if err != nil {
		return nil, err
	}
	pfs, err := k.PagefileMap(opt.Pagefiles)
	if err != nil {
		return nil, err
	}
	return translate.New(translate.Config{
		Layout:      l,
		SwizzleMask: mask,
		Physical:    opt.Physical,
		KernelDTB:   k.dtb,
		VADs:        k,
		Pagefiles:   pfs,
		Files:       opt.Files,
		TLBEntries:  opt.TLBEntries,
	})
}
