// Package pdb reads a Microsoft PDB (program database) into the model of
// package symbols: the PDB info stream (GUID and age), the DBI stream
// (section headers, OMAP, machine, and the symbol record stream with its
// S_PUB32 publics and S_GDATA32/S_LDATA32 globals) and the TPI stream
// (structs, classes, unions, enums, pointers, arrays, bitfields,
// modifiers and procedures).
//
// It was written from the format's public description. What it does not
// understand it skips: unknown type records by their length, unknown
// field list entries by ending that list (they carry no length), unknown
// symbol records by their length. Read's Notes say what was skipped.
//
// Memory use is bounded by the file: the MSF layer never allocates a
// stream larger than the file, and every count read from a stream is
// checked against the bytes left in it before a slice is made from it.
package pdb

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/msf"
)

// Machine types of the DBI header, for the pointer size.
const (
	machineI386  = 0x014c
	machineAMD64 = 0x8664
	machineARM64 = 0xaa64
)

// Result is a read PDB: the model, and what the reader skipped.
type Result struct {
	Data *symbols.Data
	// Notes lists what was malformed or unknown and skipped (at most 100),
	// for diagnostics. A PDB from a supported toolchain has none.
	Notes []string
}

// Open reads the PDB at path. Its file name becomes the identity's PDB
// name, since a PDB does not record its own.
func Open(path string) (*symbols.Table, error) {
	res, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return symbols.New(res.Data)
}

// ReadIdentity reads only the GUID and age: enough to check that a file
// is the PDB a symbol store was asked for.
func ReadIdentity(r io.ReaderAt, size int64, name string) (symbols.Identity, error) {
	f, err := msf.Open(r, size)
	if err != nil {
		return symbols.Identity{}, err
	}
	id, _, err := identity(f, name)
	return id, err
}

// identity reads the info stream and the DBI header. The DBI's age is the
// one an image's RSDS record carries; the info stream's age counts every
// rewrite of the PDB and may be higher.
func identity(f *msf.File, name string) (symbols.Identity, *dbiHeader, error) {
	b, err := f.Stream(streamPDB)
	if err != nil {
		return symbols.Identity{}, nil, err
	}
	in, err := parseInfo(b)
	if err != nil {
		return symbols.Identity{}, nil, err
	}
	id := symbols.Identity{GUID: in.guid, Age: in.age, PDBName: name}
	if f.NumStreams() <= streamDBI {
		return id, nil, nil
	}
	b, err = f.Stream(streamDBI)
	if err != nil {
		return symbols.Identity{}, nil, err
	}
	if len(b) == 0 {
		return id, nil, nil
	}
	dbi, err := parseDBI(b)
	if err != nil {
		return symbols.Identity{}, nil, err
	}
	id.Age = dbi.age
	return id, &dbi, nil
}

// Read reads a whole PDB of size bytes. name is its file name, for the
// identity.
func Read(r io.ReaderAt, size int64, name string) (*Result, error) {
	f, err := msf.Open(r, size)
	if err != nil {
		return nil, err
	}
	id, dbi, err := identity(f, name)
	if err != nil {
		return nil, err
	}
	d := &symbols.Data{
		ID:        id,
		BaseTypes: map[string]symbols.BaseType{},
		UserTypes: map[string]*symbols.UserType{},
		Enums:     map[string]*symbols.Enum{},
		Symbols:   map[string]symbols.Symbol{},
	}
	ptrSize := uint64(8)
	if dbi != nil {
		d.Machine = dbi.machine
		if dbi.machine == machineI386 {
			ptrSize = 4
		}
	}
	d.BaseTypes[symbols.PointerType] = symbols.BaseType{Size: ptrSize, Kind: symbols.BaseInt}

	tc := newTypeConv(nil, firstTypeIndex, d, ptrSize)
	if f.NumStreams() > streamTPI {
		b, err := f.Stream(streamTPI)
		if err != nil {
			return nil, err
		}
		if len(b) > 0 {
			recs, begin, err := splitTPI(b)
			if err != nil {
				return nil, err
			}
			tc = newTypeConv(recs, begin, d, ptrSize)
			tc.convert()
		}
	}
	if dbi != nil {
		if err := readDBISymbols(f, dbi, tc, d); err != nil {
			return nil, err
		}
	}
	return &Result{Data: d, Notes: tc.notes}, nil
}

// readDBISymbols reads the section map and the symbol record stream.
func readDBISymbols(f *msf.File, dbi *dbiHeader, tc *typeConv, d *symbols.Data) error {
	stream := func(i uint16) ([]byte, error) {
		if i == noStream || int(i) >= f.NumStreams() {
			return nil, nil
		}
		return f.Stream(int(i))
	}
	var am addressMap
	secStream := dbi.sectionHdr
	omap, err := stream(dbi.omapFromSrc)
	if err != nil {
		return err
	}
	if len(omap) > 0 {
		// Symbols of a rearranged image are in its original layout: the
		// original section headers place them, OMAP moves them.
		am.omap = parseOMAP(omap)
		secStream = dbi.sectionHdrOrig
	}
	secs, err := stream(secStream)
	if err != nil {
		return err
	}
	am.sections = parseSections(secs)
	// The image's extent is the final layout's, not the original one
	// OMAP maps from.
	final := am.sections
	if len(omap) > 0 {
		if b, err := stream(dbi.sectionHdr); err == nil {
			final = parseSections(b)
		}
	}
	d.ImageSize = imageEnd(final)
	recs, err := stream(dbi.symRecStream)
	if err != nil {
		return err
	}
	return readSymbols(recs, &am, tc, d)
}

// readFile reads a PDB file into a Result.
func readFile(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return Read(f, st.Size(), filepath.Base(path))
}
