package nt

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/pe"
)

// ProcessImage is one image in a process, as its loader lists and its
// VADs each see it: ldrmodules' cross-check. An image every list names
// and a view maps is ordinary; one a view maps but no list names was
// unlinked from the lists (or mapped without the loader), which is what
// an analyst looks for.
type ProcessImage struct {
	UserModule // from the first list that names it; for an image only a view maps, Base and Size from the view
	// Which of the PEB loader's lists name it.
	InLoad, InMemory, InInit bool
	// ImageVAD: a view of an image section starts at Base; MappedFile is
	// the file the view maps, by its guest name, when known.
	ImageVAD   bool
	MappedFile string
	// PDB is the image's RSDS identity, read from its headers in the
	// process's memory; PDBErr says why there is none.
	PDB    symbols.Identity
	PDBErr error
}

// ProcessImages cross-checks p's three loader lists with its image views.
// A process without a PEB or loader data has no lists, which is not an
// error; a list or the VAD tree that cannot be walked whole still gives
// what it read, and the error says which failed.
func (k *Kernel) ProcessImages(p Process) ([]ProcessImage, error) {
	var out []ProcessImage
	byBase := map[uint64]int{}
	var errs []error
	for _, order := range []ModuleOrder{LoadOrder, MemoryOrder, InitializationOrder} {
		mods, err := k.ProcessModulesIn(p, order)
		if errors.Is(err, ErrNoPEB) {
			break // no PEB or no loader data (System, a process not yet started): no lists
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", order, err))
		}
		for _, m := range mods {
			i, ok := byBase[m.Base]
			if !ok {
				i = len(out)
				byBase[m.Base] = i
				out = append(out, ProcessImage{UserModule: m})
			}
			switch order {
			case LoadOrder:
				out[i].InLoad = true
			case MemoryOrder:
				out[i].InMemory = true
			case InitializationOrder:
				out[i].InInit = true
			}
		}
	}
	views, err := k.imageViews(p)
	if err != nil {
		errs = append(errs, err)
	}
	var unlisted []ProcessImage
	for _, v := range views {
		name, _ := k.SubsectionFileName(v.Subsection)
		if i, ok := byBase[v.Start]; ok {
			out[i].ImageVAD, out[i].MappedFile = true, name
			continue
		}
		unlisted = append(unlisted, ProcessImage{UserModule: UserModule{Base: v.Start, Size: v.End - v.Start}, ImageVAD: true, MappedFile: name})
	}
	out = append(out, unlisted...)
	mem := processMemory{k: k, dtb: p.DTB}
	for i := range out {
		img, err := pe.Mapped(mem, out[i].Base)
		if err != nil {
			out[i].PDBErr = err
			continue
		}
		out[i].PDB = img.ID
	}
	return out, errors.Join(errs...)
}

// vadImageMap is _MI_VAD_TYPE's VadImageMap, for PDBs without the enum:
// Windows 10 19041's public PDB has none (its VadFlags.VadType is a bare
// 3-bit field), while the value has been 2 since Vista. A PDB that has
// the enum is believed first.
const vadImageMap = 2

// imageViews are p's VADs that map an image section, in address order.
func (k *Kernel) imageViews(p Process) ([]VAD, error) {
	imageMap := int64(vadImageMap)
	if v, err := k.sym.EnumValue("_MI_VAD_TYPE", "VadImageMap"); err == nil {
		imageMap = v
	}
	vads, err := k.VADs(p)
	var views []VAD
	for _, v := range vads {
		if !v.Private && v.VadType == uint64(imageMap) {
			views = append(views, v)
		}
	}
	slices.SortFunc(views, func(a, b VAD) int { return cmp.Compare(a.Start, b.Start) })
	return views, err
}

// processMemory reads a process's address space for the PE parser.
type processMemory struct {
	k   *Kernel
	dtb uint64
}

func (m processMemory) ReadAt(p []byte, addr uint64) (int, error) {
	if err := m.k.ReadVirtual(m.dtb, addr, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
