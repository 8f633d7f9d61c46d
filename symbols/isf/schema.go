package isf

import "encoding/json"

// The JSON shapes of ISF 6.x, as the writer emits them (the reader decodes
// straight into the model, see decode.go). Field names are the schema's.

type file struct {
	Metadata  metadata            `json:"metadata"`
	BaseTypes map[string]baseType `json:"base_types"`
	UserTypes map[string]userType `json:"user_types"`
	Enums     map[string]enum     `json:"enums"`
	Symbols   map[string]symbol   `json:"symbols"`
}

type metadata struct {
	Format   string    `json:"format"`
	Producer *producer `json:"producer,omitempty"`
	Windows  *windows  `json:"windows,omitempty"`
}

type producer struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Datetime string `json:"datetime,omitempty"`
}

type windows struct {
	PDB *pdbInfo `json:"pdb,omitempty"`
	// pe (file version) is read past: Frost keys on the PDB.
}

type pdbInfo struct {
	GUID        string `json:"GUID"`
	Age         uint32 `json:"age"`
	Database    string `json:"database"`
	MachineType uint16 `json:"machine_type"`
}

type baseType struct {
	Size   uint64 `json:"size"`
	Signed bool   `json:"signed"`
	Kind   string `json:"kind"`
	Endian string `json:"endian"`
}

type userType struct {
	Kind   string           `json:"kind"`
	Size   uint64           `json:"size"`
	Fields map[string]field `json:"fields"`
}

type field struct {
	Type      *typeDesc `json:"type"`
	Offset    uint64    `json:"offset"`
	Anonymous bool      `json:"anonymous,omitempty"`
}

// typeDesc is any of the schema's type descriptors; Kind says which
// fields apply.
type typeDesc struct {
	Kind        string    `json:"kind"`
	Name        string    `json:"name,omitempty"`
	Subtype     *typeDesc `json:"subtype,omitempty"`
	Count       *uint64   `json:"count,omitempty"`
	BitPosition *uint32   `json:"bit_position,omitempty"`
	BitLength   *uint32   `json:"bit_length,omitempty"`
	Type        *typeDesc `json:"type,omitempty"`
	// Base names the pointer's base type; the schema allows it, Frost
	// sizes every pointer by base_types.pointer.
	Base string `json:"base,omitempty"`
}

type enum struct {
	Size      uint64                 `json:"size"`
	Base      string                 `json:"base"`
	Constants map[string]json.Number `json:"constants"`
}

type symbol struct {
	Address      uint64    `json:"address"`
	LinkageName  string    `json:"linkage_name,omitempty"`
	Type         *typeDesc `json:"type,omitempty"`
	ConstantData string    `json:"constant_data,omitempty"`
}
