package nt

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
)

// maxNameDepth bounds the directories above a named object. Windows'
// namespace is a few levels deep (\Sessions\1\BaseNamedObjects\x is 4);
// a longer chain is a corrupt or hostile Directory pointer.
const maxNameDepth = 64

// objectName is an object's path in the object namespace, as
// ObQueryNameString builds it: its name info's Name under its
// Directory's name, and so on up to the root directory
// (ObpRootDirectoryObject; without that symbol, the directory whose own
// name info has no Directory), whose name "\" is the separator:
// \Device\HarddiskVolume1. An object in no directory is its bare Name;
// one without a name info is "".
func (k *Kernel) objectName(h *object) (string, error) {
	name, dir, ok, err := k.nameInfo(h)
	if err != nil || !ok || dir == 0 {
		return name, err
	}
	bodyOff, err := k.lay.offset("_OBJECT_HEADER.Body")
	if err != nil {
		return "", err
	}
	root, err := k.rootDirectory()
	if err != nil {
		return "", err
	}
	parts := []string{name}
	units := utf16Len(name)
	seen := map[uint64]bool{}
	for dir != root {
		if len(seen) >= maxNameDepth {
			return "", &WalkError{What: "object directories", At: dir, Err: ErrTooLong, Msg: fmt.Sprintf("%q is more than %d directories deep", name, maxNameDepth)}
		}
		if seen[dir] {
			return "", &WalkError{What: "object directories", At: dir, Err: ErrCycle, Msg: fmt.Sprintf("above %q", name)}
		}
		if dir < kernelHalf || !canonical(dir) {
			return "", &WalkError{What: "object directories", At: dir, Err: ErrCorrupt, Msg: fmt.Sprintf("the directory of %q is not a kernel address", name)}
		}
		seen[dir] = true
		dh, err := k.readObject("_OBJECT_HEADER", k.dtb, dir-bodyOff)
		if err != nil {
			return "", err
		}
		dname, parent, ok, err := k.nameInfo(dh)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", &WalkError{What: "object directories", At: dir, Err: ErrCorrupt, Msg: fmt.Sprintf("the directory of %q has no name", name)}
		}
		if parent == 0 {
			break // the root, found without ObpRootDirectoryObject
		}
		parts = append(parts, dname)
		// The whole path is a UNICODE_STRING in Windows too.
		if units += 1 + utf16Len(dname); 2*units > k.limits.String {
			return "", &WalkError{What: "object directories", At: dir, Err: ErrTooLong, Msg: fmt.Sprintf("the path of %q is longer than %d bytes", name, k.limits.String)}
		}
		dir = parent
	}
	slices.Reverse(parts)
	return `\` + strings.Join(parts, `\`), nil
}

// rootDirectory is the root directory object's body, or 0 when the
// build has no ObpRootDirectoryObject.
func (k *Kernel) rootDirectory() (uint64, error) {
	va, err := k.global("ObpRootDirectoryObject")
	if err != nil {
		return 0, nil
	}
	return k.pointer("ObpRootDirectoryObject", va)
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// nameInfo reads an object's _OBJECT_HEADER_NAME_INFO: its Name and
// Directory (the directory object's body), ok false when it has none or
// the build keeps names otherwise. The optional headers sit below the
// object header, the one of the lowest InfoMask bit nearest to it, so a
// header's distance below the object header is the size of itself and of
// every present header of a lower bit: ObpInfoMaskToOffset[InfoMask &
// (bit | (bit-1))], a table the kernel fills from those sizes at boot.
func (k *Kernel) nameInfo(h *object) (name string, dir uint64, ok bool, err error) {
	const nameInfoBit = 0x2 // OB_INFOMASK_NAME; 0x1 is the creator info, nearer the header
	if !k.lay.has("_OBJECT_HEADER_NAME_INFO.Name") || !k.lay.has("_OBJECT_HEADER.InfoMask") {
		return "", 0, false, nil
	}
	table, err := k.global("ObpInfoMaskToOffset")
	if err != nil {
		return "", 0, false, nil
	}
	mask, err := h.uint("InfoMask")
	if err != nil || mask&nameInfoBit == 0 {
		return "", 0, false, err
	}
	// Go gives | and - one precedence level: the parentheses are the
	// point (mask & 3, the name bit and every bit below it).
	index := mask & (nameInfoBit | (nameInfoBit - 1))
	var off [1]byte
	if err := k.read("ObpInfoMaskToOffset", k.dtb, table+index, off[:]); err != nil {
		return "", 0, false, err
	}
	size, err := k.lay.size("_OBJECT_HEADER_NAME_INFO")
	if err != nil {
		return "", 0, false, err
	}
	if uint64(off[0]) < size {
		// The name info cannot overlap the object header: a table
		// entry this small is not one the kernel computed.
		return "", 0, false, &WalkError{What: "ObpInfoMaskToOffset", At: table + index, Err: ErrCorrupt,
			Msg: fmt.Sprintf("entry %#x is %d, less than the %d-byte name info it locates", index, off[0], size)}
	}
	ni, err := k.readObject("_OBJECT_HEADER_NAME_INFO", k.dtb, h.va-uint64(off[0]))
	if err != nil {
		return "", 0, false, err
	}
	if dir, err = ni.uintOr("Directory"); err != nil {
		return "", 0, false, err
	}
	name, err = k.unicodeFrom(k.dtb, ni, "Name")
	return name, dir, err == nil, err
}
