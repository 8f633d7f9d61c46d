package store

import (
	"fmt"
	"io"
	"os"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/isf"
	"github.com/frostvmi/frost/symbols/msf"
	"github.com/frostvmi/frost/symbols/pdb"
)

// OpenFile reads a PDB or an ISF (.json or .json.xz), told apart by
// content, not by name.
func OpenFile(path string) (*symbols.Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, len(msf.Magic))
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	head = head[:n]
	if msf.IsMSF(head) {
		return pdb.Open(path)
	}
	if string(head[:min(4, len(head))]) == "MSCF" {
		return nil, unsupported(path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	t, err := isf.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// identityOf reads only the identity of a PDB or ISF file, to check a
// download before it enters the cache.
func identityOf(f *os.File, size int64, name, where string) (symbols.Identity, error) {
	head := make([]byte, len(msf.Magic))
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	switch {
	case msf.IsMSF(head):
		return pdb.ReadIdentity(f, size, name)
	case string(head[:min(4, len(head))]) == "MSCF":
		return symbols.Identity{}, unsupported(where)
	}
	return isf.ReadIdentity(io.NewSectionReader(f, 0, size))
}
