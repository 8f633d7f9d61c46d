package nt

import (
	"fmt"
	"strings"
)

// maxDirectoryEntries bounds one directory's listing: \BaseNamedObjects
// of a busy desktop holds a few thousand objects.
const maxDirectoryEntries = 1 << 16

// DirectoryEntry is one object of an object directory.
type DirectoryEntry struct {
	Name   string // the last component, from its name info
	Type   string // its type's name: Directory, Device, Mutant, ...
	Object uint64 // the body
	Bucket int    // the hash bucket its entry is chained on
}

// ObjectDirectory lists the directory object at path (`\`, `\Device`,
// `\BaseNamedObjects`) by walking its hash buckets' chains of
// _OBJECT_DIRECTORY_ENTRY, from ObpRootDirectoryObject down, one
// component at a time compared without case, as the object manager looks
// names up. The number of buckets is the HashBuckets array's length in
// the PDB. Chains are bounded and cycle-safe.
func (k *Kernel) ObjectDirectory(path string) ([]DirectoryEntry, error) {
	if !strings.HasPrefix(path, `\`) {
		return nil, fmt.Errorf("nt: object directory %q: not an absolute path", path)
	}
	root, err := k.rootDirectory()
	if err != nil {
		return nil, err
	}
	if root == 0 {
		return nil, &SymbolError{Need: "symbol ObpRootDirectoryObject", Err: fmt.Errorf("the build has none, or it is not set")}
	}
	dir, at := root, `\`
	for _, part := range strings.Split(strings.Trim(path, `\`), `\`) {
		if part == "" {
			continue
		}
		entries, err := k.directoryEntries(dir)
		if err != nil {
			return nil, err
		}
		next := uint64(0)
		for _, e := range entries {
			if strings.EqualFold(e.Name, part) && e.Type == "Directory" {
				next = e.Object
				break
			}
		}
		if next == 0 {
			return nil, fmt.Errorf("nt: object directory %q: no directory %q in %s", path, part, at)
		}
		dir, at = next, strings.TrimSuffix(at, `\`)+`\`+part
	}
	return k.directoryEntries(dir)
}

// directoryEntries reads every entry of the _OBJECT_DIRECTORY at dir.
func (k *Kernel) directoryEntries(dir uint64) ([]DirectoryEntry, error) {
	f, err := k.lay.field("_OBJECT_DIRECTORY.HashBuckets")
	if err != nil {
		return nil, err
	}
	d, err := k.readObject("_OBJECT_DIRECTORY", k.dtb, dir)
	if err != nil {
		return nil, err
	}
	heads, err := d.bytes("HashBuckets")
	if err != nil {
		return nil, err
	}
	bodyOff, err := k.lay.offset("_OBJECT_HEADER.Body")
	if err != nil {
		return nil, err
	}
	types := map[uint64]string{}
	var out []DirectoryEntry
	seen := map[uint64]bool{}
	for b := 0; b < int(f.Size/8); b++ {
		for e := le64(heads[8*b:]); e != 0; {
			if seen[e] {
				return nil, &WalkError{What: "object directory", At: dir, Err: ErrCycle, Msg: fmt.Sprintf("bucket %d", b)}
			}
			if len(seen) >= maxDirectoryEntries {
				return nil, &WalkError{What: "object directory", At: dir, Err: ErrTooLong, Msg: fmt.Sprintf("more than %d entries", maxDirectoryEntries)}
			}
			if e < kernelHalf || !canonical(e) {
				return nil, &WalkError{What: "object directory", At: dir, Err: ErrCorrupt, Msg: fmt.Sprintf("bucket %d links to %#x", b, e)}
			}
			seen[e] = true
			ent, err := k.readObject("_OBJECT_DIRECTORY_ENTRY", k.dtb, e)
			if err != nil {
				return nil, err
			}
			body, err := ent.uint("Object")
			if err != nil {
				return nil, err
			}
			obj, err := k.ObjectAt(body-bodyOff, types)
			if err != nil {
				return nil, err
			}
			h, err := k.readObject("_OBJECT_HEADER", k.dtb, body-bodyOff)
			if err != nil {
				return nil, err
			}
			name, _, ok, err := k.nameInfo(h)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, &WalkError{What: "object directory", At: e, Err: ErrCorrupt, Msg: fmt.Sprintf("the %s at %#x has no name", obj.Type, body)}
			}
			out = append(out, DirectoryEntry{Name: name, Type: obj.Type, Object: body, Bucket: b})
			if e, err = ent.uint("ChainLink"); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
