package store

import (
	"fmt"
	"path"
	"strings"

	"github.com/frostvmi/frost/symbols"
)

// PDBPath is where a PDB sits in a symbol store, '/'-separated:
// <pdbname>/<GUID><AGE>/<pdbname>, the age in upper-case hex without
// leading zeros.
func PDBPath(id symbols.Identity) string {
	return path.Join(id.PDBName, id.PDBKey(), id.PDBName)
}

// ISFPath is where an ISF sits in Volatility 3's layout:
// <pdbname>/<GUID>-<AGE>.json[.xz], the age in decimal. ext is ".json"
// or ".json.xz".
func ISFPath(id symbols.Identity, ext string) string {
	return path.Join(id.PDBName, id.ISFKey()+ext)
}

// volatilityDir is where a Volatility 3 symbols root keeps the Windows
// tables (beside linux/ and mac/): a symbol path may name the root or
// this directory.
const volatilityDir = "windows"

// CheckName refuses a PDB name that could leave the store's directory: it
// comes from an image's RSDS record, which comes from the guest.
func CheckName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("store: PDB name %q", name)
	case len(name) > 255:
		return fmt.Errorf("store: PDB name of %d bytes", len(name))
	case strings.ContainsAny(name, `/\:*?"<>|`):
		return fmt.Errorf("store: PDB name %q has a path or wildcard character", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("store: PDB name %q has a control character", name)
		}
	}
	return nil
}
