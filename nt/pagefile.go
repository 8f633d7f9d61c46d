package nt

import (
	"fmt"
	"io"

	"github.com/frostvmi/frost/translate"
)

// PagingFile is one registered paging file (an _MMPAGING_FILE).
type PagingFile struct {
	Address uint64 // kernel VA of the _MMPAGING_FILE
	// Number is PageFileNumber: the PageFileLow of the PTEs that point
	// into this file.
	Number uint64
	Name   string // PageFileName, e.g. \??\C:\pagefile.sys
	// VirtualStore marks the compressed virtual store.
	VirtualStore bool
	// Sizes in pages.
	Size, MinimumSize, MaximumSize uint64
	FileObject                     uint64
}

// PagingFiles lists the paging files the memory manager has registered:
// MiSystemPartition.Vp.PagingFile[] (Windows 10 and later), or
// MmPagingFile[] with MmNumberOfPagingFiles on older builds.
func (k *Kernel) PagingFiles() ([]PagingFile, error) {
	arr, count, capacity, err := k.pagingFileArray()
	if err != nil {
		return nil, err
	}
	if count > capacity {
		return nil, &WalkError{What: "paging files", At: arr, Err: ErrCorrupt, Msg: fmt.Sprintf("%d registered in an array of %d", count, capacity)}
	}
	var out []PagingFile
	for i := uint64(0); i < count; i++ {
		ptr, err := k.pointer("PagingFile[]", arr+8*i)
		if err != nil {
			return out, err
		}
		if ptr == 0 {
			continue
		}
		pf, err := k.pagingFile(ptr)
		if err != nil {
			return out, err
		}
		out = append(out, pf)
	}
	return out, nil
}

// pagingFileArray locates the array of _MMPAGING_FILE pointers.
func (k *Kernel) pagingFileArray() (arr, count, capacity uint64, err error) {
	if part, err := k.global("MiSystemPartition"); err == nil {
		f, err := k.lay.field("_MI_PARTITION.Vp.PagingFile")
		if err != nil {
			return 0, 0, 0, err
		}
		nOff, err := k.lay.field("_MI_PARTITION.Vp.NumberOfPagingFiles")
		if err != nil {
			return 0, 0, 0, err
		}
		n, err := k.readUint("NumberOfPagingFiles", k.dtb, part+nOff.Offset, nOff)
		if err != nil {
			return 0, 0, 0, err
		}
		return part + f.Offset, n, f.Type.Count, nil
	}
	arr, err = k.global("MmPagingFile")
	if err != nil {
		return 0, 0, 0, err
	}
	nva, err := k.global("MmNumberOfPagingFiles")
	if err != nil {
		return 0, 0, 0, err
	}
	var b [4]byte
	if err := k.read("MmNumberOfPagingFiles", k.dtb, nva, b[:]); err != nil {
		return 0, 0, 0, err
	}
	// Windows has had 16 paging files at most since NT 4 (the width of
	// PageFileLow); the symbol's type is not always in the PDB.
	return arr, uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24, 16, nil
}

func (k *Kernel) pagingFile(va uint64) (PagingFile, error) {
	o, err := k.readObject("_MMPAGING_FILE", k.dtb, va)
	if err != nil {
		return PagingFile{}, err
	}
	pf := PagingFile{Address: va}
	if pf.Number, err = o.uint("PageFileNumber"); err != nil {
		return pf, err
	}
	vs, err := o.uintOr("VirtualStorePagefile")
	if err != nil {
		return pf, err
	}
	pf.VirtualStore = vs != 0
	for path, dst := range map[string]*uint64{"Size": &pf.Size, "MinimumSize": &pf.MinimumSize, "MaximumSize": &pf.MaximumSize, "File": &pf.FileObject} {
		if *dst, err = o.uintOr(path); err != nil {
			return pf, err
		}
	}
	if pf.Name, err = k.unicodeFrom(k.dtb, o, "PageFileName"); err != nil {
		return pf, err
	}
	return pf, nil
}

// PagefileOpener supplies the bytes of a paging file, e.g. its extent in
// the disk image. It returns nil, nil for a file it does not have.
type PagefileOpener func(PagingFile) (io.ReaderAt, error)

// PagefileMap turns the registered paging files into translate's map, by
// PageFileLow. Without an opener (or when it has no file) the entries say
// the file exists but cannot be read, so translation reports "in paging
// file n", never zeros.
func (k *Kernel) PagefileMap(open PagefileOpener) (map[uint64]translate.Pagefile, error) {
	pfs, err := k.PagingFiles()
	if err != nil {
		return nil, err
	}
	m := make(map[uint64]translate.Pagefile, len(pfs))
	for _, pf := range pfs {
		entry := translate.Pagefile{VirtualStore: pf.VirtualStore}
		if open != nil && !pf.VirtualStore {
			r, err := open(pf)
			if err != nil {
				return nil, fmt.Errorf("nt: opening paging file %d (%s): %w", pf.Number, pf.Name, err)
			}
			entry.Data = r
		}
		m[pf.Number] = entry
	}
	return m, nil
}
