package nt

import (
	"fmt"

	"github.com/frostvmi/frost/translate"
)

// ControlArea is what a section's _CONTROL_AREA says about it: the file
// behind it and how the memory manager treats its pages.
type ControlArea struct {
	Address    uint64 // kernel VA of the _CONTROL_AREA
	FileObject uint64 // the FILE_OBJECT (FilePointer without its count), or 0
	File       *FileObject
	// Image: an image section (u.Flags.Image). OnRemovableMedia is
	// u.Flags.ImageControlAreaOnRemovableMedia: Windows set it when the
	// image's device is ejectable, or when WinPE runs from RAM, and then
	// keeps the image's pages in memory instead of backing them by the
	// file.
	Image, OnRemovableMedia bool
}

// ControlAreaOfSubsection follows _SUBSECTION.ControlArea.
func (k *Kernel) ControlAreaOfSubsection(subsection uint64) (ControlArea, error) {
	s, err := k.readObject("_SUBSECTION", k.dtb, subsection)
	if err != nil {
		return ControlArea{}, err
	}
	ca, err := s.uint("ControlArea")
	if err != nil {
		return ControlArea{}, err
	}
	if ca == 0 {
		return ControlArea{}, &WalkError{What: "_SUBSECTION", At: subsection, Err: ErrCorrupt, Msg: "no control area"}
	}
	return k.ControlAreaAt(ca)
}

// ControlAreaAt reads the _CONTROL_AREA at va and names its file.
func (k *Kernel) ControlAreaAt(va uint64) (ControlArea, error) {
	o, err := k.readObject("_CONTROL_AREA", k.dtb, va)
	if err != nil {
		return ControlArea{}, err
	}
	c := ControlArea{Address: va}
	image, err := o.uint("u.Flags.Image")
	if err != nil {
		return c, err
	}
	removable, err := o.uint("u.Flags.ImageControlAreaOnRemovableMedia")
	if err != nil {
		return c, err
	}
	c.Image, c.OnRemovableMedia = image != 0, removable != 0
	ref, err := o.uint("FilePointer")
	if err != nil {
		return c, err
	}
	if c.FileObject, err = k.fastRefObject(ref); err != nil || c.FileObject == 0 {
		return c, err
	}
	f, err := k.FileObjectAt(c.FileObject)
	if err != nil {
		return c, err
	}
	c.File = &f
	return c, nil
}

// fastRefObject strips an _EX_FAST_REF's reference count, whose bits the
// symbols give (_EX_FAST_REF.RefCnt: the low 4 on x64, where objects are
// 16-byte aligned), from the object pointer.
func (k *Kernel) fastRefObject(ref uint64) (uint64, error) {
	f, err := k.lay.field("_EX_FAST_REF.RefCnt")
	if err != nil {
		return 0, err
	}
	if f.BitLength == 0 || f.BitLength > 16 || f.BitPosition+f.BitLength > 64 {
		return 0, &SymbolError{Need: "_EX_FAST_REF.RefCnt", Err: fmt.Errorf("a %d-bit count at bit %d is not a fast reference", f.BitLength, f.BitPosition)}
	}
	return ref &^ ((1<<f.BitLength - 1) << f.BitPosition), nil
}

// SubsectionFileName names the file behind a subsection (volume-relative,
// as its FILE_OBJECT has it): what translate needs to serve file-backed
// pages from the operator's directory.
func (k *Kernel) SubsectionFileName(subsection uint64) (string, error) {
	c, err := k.ControlAreaOfSubsection(subsection)
	if err != nil {
		return "", err
	}
	if c.File == nil {
		return "", &WalkError{What: "_CONTROL_AREA", At: c.Address, Err: ErrCorrupt, Msg: "no file object"}
	}
	return c.File.Name, nil
}

// Files is translate's file resolver for this kernel: names from the
// control areas, bytes from dir (nil: file-backed pages are located and
// named, not read).
func (k *Kernel) Files(dir *translate.FileDir) translate.FileResolver {
	return translate.FilesByName{Names: k.SubsectionFileName, Dir: dir}
}
