package integration

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
)

// codeView is a PE's RSDS record: the key of its PDB in a symbol store.
type codeView struct {
	GUID string // 32 upper-case hex digits, as in a symbol store path
	Age  uint32
	Name string
}

// IMAGE_DEBUG_DIRECTORY and RSDS layout, from the PE/COFF specification.
const (
	debugDirEntrySize  = 28
	debugTypeCodeView  = 2
	debugDirIndex      = pe.IMAGE_DIRECTORY_ENTRY_DEBUG
	rsdsMinSize        = 4 + 16 + 4 + 1
	maxCodeViewRecord  = 4096
	debugEntryType     = 12
	debugEntrySizeOf   = 16
	debugEntryFilePtr  = 24
	rsdsGUIDOffset     = 4
	rsdsAgeOffset      = 20
	rsdsNameOffset     = 24
	maxDebugDirEntries = 64
)

// readCodeView reads the RSDS record of a PE32+ image through its debug
// directory, the way Frost's symbols package will: PE headers, never
// offsets known in advance.
func readCodeView(path string) (codeView, error) {
	f, err := os.Open(path)
	if err != nil {
		return codeView{}, err
	}
	defer f.Close()
	img, err := pe.NewFile(f)
	if err != nil {
		return codeView{}, err
	}
	oh, ok := img.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		return codeView{}, errors.New("not a PE32+ image")
	}
	if len(oh.DataDirectory) <= debugDirIndex || oh.DataDirectory[debugDirIndex].Size == 0 {
		return codeView{}, errors.New("no debug directory")
	}
	dir := oh.DataDirectory[debugDirIndex]
	raw, err := readRVA(img, dir.VirtualAddress, dir.Size)
	if err != nil {
		return codeView{}, fmt.Errorf("debug directory: %w", err)
	}
	for i := 0; i+debugDirEntrySize <= len(raw) && i/debugDirEntrySize < maxDebugDirEntries; i += debugDirEntrySize {
		e := raw[i : i+debugDirEntrySize]
		if binary.LittleEndian.Uint32(e[debugEntryType:]) != debugTypeCodeView {
			continue
		}
		size := binary.LittleEndian.Uint32(e[debugEntrySizeOf:])
		if size < rsdsMinSize || size > maxCodeViewRecord {
			return codeView{}, fmt.Errorf("CodeView record of %d bytes", size)
		}
		rec := make([]byte, size)
		if _, err := f.ReadAt(rec, int64(binary.LittleEndian.Uint32(e[debugEntryFilePtr:]))); err != nil {
			return codeView{}, fmt.Errorf("CodeView record: %w", err)
		}
		return parseRSDS(rec)
	}
	return codeView{}, errors.New("no CodeView debug entry")
}

// readRVA reads size bytes at rva from the section holding them.
func readRVA(img *pe.File, rva, size uint32) ([]byte, error) {
	for _, s := range img.Sections {
		if rva >= s.VirtualAddress && uint64(rva)+uint64(size) <= uint64(s.VirtualAddress)+uint64(s.Size) {
			b := make([]byte, size)
			_, err := s.ReadAt(b, int64(rva-s.VirtualAddress))
			return b, err
		}
	}
	return nil, fmt.Errorf("RVA %#x+%#x is in no section's file data", rva, size)
}

func parseRSDS(rec []byte) (codeView, error) {
	if string(rec[:4]) != "RSDS" {
		return codeView{}, fmt.Errorf("CodeView signature %q, want RSDS", rec[:4])
	}
	g := rec[rsdsGUIDOffset : rsdsGUIDOffset+16]
	// A GUID's first three fields are little-endian integers; the symbol
	// store prints them as numbers, then the last eight bytes in order.
	guid := fmt.Sprintf("%08X%04X%04X%X",
		binary.LittleEndian.Uint32(g[0:]), binary.LittleEndian.Uint16(g[4:]), binary.LittleEndian.Uint16(g[6:]), g[8:])
	name, _, found := bytes.Cut(rec[rsdsNameOffset:], []byte{0})
	if !found {
		return codeView{}, errors.New("RSDS name is not NUL-terminated")
	}
	return codeView{GUID: guid, Age: binary.LittleEndian.Uint32(rec[rsdsAgeOffset:]), Name: string(name)}, nil
}

// pdbSummary matches the GUID and age lines of `llvm-pdbutil dump -summary`.
var (
	pdbGUID = regexp.MustCompile(`(?m)^\s*GUID: \{([0-9A-Fa-f-]+)\}`)
	pdbAge  = regexp.MustCompile(`(?m)^\s*Age: (\d+)`)
)

// TestRSDSMatchesPDBAndGuest checks the identity chain Frost depends on: the
// RSDS record in ntoskrnl.exe names ntkrnlmp.pdb with the PDB's own GUID and
// age, and the running kernel reports the same.
func TestRSDSMatchesPDBAndGuest(t *testing.T) {
	out := requireGuest(t)
	cv, err := readCodeView(filepath.Join(out, "ntoskrnl.exe"))
	if err != nil {
		t.Fatalf("ntoskrnl.exe: %v", err)
	}
	if cv.Name != "ntkrnlmp.pdb" {
		t.Errorf("RSDS names %q, want exactly ntkrnlmp.pdb (link with /pdbaltpath:%%_PDB%%)", cv.Name)
	}

	summary := pdbutil(t, "-summary")
	g, a := pdbGUID.FindSubmatch(summary), pdbAge.FindSubmatch(summary)
	if g == nil || a == nil {
		t.Fatalf("no GUID or Age in llvm-pdbutil dump -summary:\n%s", summary)
	}
	pdbGUIDHex := strings.ToUpper(strings.ReplaceAll(string(g[1]), "-", ""))
	pdbAgeN, _ := strconv.ParseUint(string(a[1]), 10, 32)
	if cv.GUID != pdbGUIDHex || uint64(cv.Age) != pdbAgeN {
		t.Errorf("RSDS GUID %s age %d, but the PDB has %s age %d", cv.GUID, cv.Age, pdbGUIDHex, pdbAgeN)
	}

	m := start(t, minint.Config{Seed: minint.Seed(5)})
	kernel := waitEvent(t, m, "kernel")
	if kernel.Get("guid") != cv.GUID || uintField(t, kernel, "age") != uint64(cv.Age) {
		t.Errorf("the kernel reports guid=%s age=%s, the image's RSDS has %s age %d", kernel.Get("guid"), kernel.Get("age"), cv.GUID, cv.Age)
	}
	if kernel.Get("pdb") != cv.Name {
		t.Errorf("the kernel reports pdb=%s, the RSDS names %s", kernel.Get("pdb"), cv.Name)
	}
}
