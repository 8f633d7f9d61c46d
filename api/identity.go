package api

import (
	"strconv"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/store"
)

func identityFromPB(p *pb.PdbIdentity) (symbols.Identity, error) {
	if p == nil {
		return symbols.Identity{}, invalid("pdb", "a PDB identity is required")
	}
	g, err := symbols.ParseGUID(p.GetGuid())
	if err != nil {
		return symbols.Identity{}, invalid("pdb.guid", "%v", err)
	}
	name := p.GetPdbName()
	if name == "" {
		return symbols.Identity{}, invalid("pdb.pdb_name", "a PDB file name such as ntkrnlmp.pdb is required")
	}
	// The name joins a store path: refuse one that could leave it.
	if err := store.CheckName(name); err != nil {
		return symbols.Identity{}, invalid("pdb.pdb_name", "%v", err)
	}
	return symbols.Identity{GUID: g, Age: p.GetAge(), PDBName: name}, nil
}

func identityPB(id symbols.Identity) *pb.PdbIdentity {
	return &pb.PdbIdentity{Guid: id.GUID.String(), Age: id.Age, PdbName: id.PDBName}
}

func uitoa(v uint64) string { return strconv.FormatUint(v, 10) }
