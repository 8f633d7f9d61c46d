package symbols

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// GUID is a PDB's GUID in its on-disk byte order: Data1, Data2 and Data3
// little-endian, then the eight bytes of Data4.
type GUID [16]byte

// String formats the GUID the way a symbol store names it: Data1, Data2
// and Data3 printed as numbers, then the bytes of Data4, all upper-case
// hex with no separators (32 digits).
func (g GUID) String() string {
	return fmt.Sprintf("%08X%04X%04X%X",
		binary.LittleEndian.Uint32(g[0:]), binary.LittleEndian.Uint16(g[4:]),
		binary.LittleEndian.Uint16(g[6:]), g[8:16])
}

// ParseGUID reads a GUID in symbol-store form (32 hex digits) or in
// registry form ({XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}, braces optional).
func ParseGUID(s string) (GUID, error) {
	h := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(h) == 36 && h[8] == '-' && h[13] == '-' && h[18] == '-' && h[23] == '-' {
		h = h[:8] + h[9:13] + h[14:18] + h[19:23] + h[24:]
	}
	var g GUID
	if len(h) != 32 {
		return g, fmt.Errorf("symbols: GUID %q: want 32 hex digits", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return g, fmt.Errorf("symbols: GUID %q: %w", s, err)
	}
	// The printed form shows Data1..Data3 as big-endian numbers.
	binary.LittleEndian.PutUint32(g[0:], binary.BigEndian.Uint32(b[0:]))
	binary.LittleEndian.PutUint16(g[4:], binary.BigEndian.Uint16(b[4:]))
	binary.LittleEndian.PutUint16(g[6:], binary.BigEndian.Uint16(b[6:]))
	copy(g[8:], b[8:])
	return g, nil
}

// Identity is what ties a module to its symbols: the PDB's GUID and age,
// and the PDB's file name as the image's RSDS record spells it.
type Identity struct {
	GUID GUID
	Age  uint32
	// PDBName is a bare file name such as "ntkrnlmp.pdb".
	PDBName string
}

// PDBKey is the directory name of this PDB in a symbol store: the GUID,
// then the age in upper-case hex without leading zeros.
func (id Identity) PDBKey() string {
	return id.GUID.String() + strings.ToUpper(strconv.FormatUint(uint64(id.Age), 16))
}

// ISFKey is the file name stem of this PDB's ISF in Volatility 3's
// layout: the GUID, a dash, and the age in decimal.
func (id Identity) ISFKey() string {
	return id.GUID.String() + "-" + strconv.FormatUint(uint64(id.Age), 10)
}

// String names the identity in messages: "ntkrnlmp.pdb 606FF669...-1".
func (id Identity) String() string {
	name := id.PDBName
	if name == "" {
		name = "(unnamed pdb)"
	}
	return name + " " + id.ISFKey()
}
