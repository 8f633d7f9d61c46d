package integration

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// kernelPublics are the globals and functions Frost (or its tests) will
// look up by name in ntkrnlmp.pdb.
var kernelPublics = []string{
	"KiSystemStartup", "KiSystemCall64", "Phase1Initialization", "Phase1InitializationDiscard",
	"IoIsDeviceEjectable", "NtCreatePagingFile", "NtCreateFile", "NtWriteFile",
	"PsActiveProcessHead", "PsInitialSystemProcess", "PsLoadedModuleList", "KiImplementedPhysicalBits",
	"MiState", "MiSystemPartition", "InitWinPEModeType", "InitIsWinPEMode",
	"ObHeaderCookie", "ObTypeIndexTable", "ObpKernelHandleTable",
}

// kernelTypes are the types whose layout Frost will read from the PDB.
var kernelTypes = []string{
	"_KPCR", "_KPRCB", "_KTHREAD", "_ETHREAD", "_KPROCESS", "_EPROCESS",
	"_MMVAD_SHORT", "_MMVAD", "_RTL_BALANCED_NODE", "_RTL_AVL_TREE",
	"_SUBSECTION", "_CONTROL_AREA", "_FILE_OBJECT", "_UNICODE_STRING",
	"_MMPTE", "_MMPTE_HARDWARE", "_MMPTE_PROTOTYPE", "_MMPTE_SOFTWARE", "_MMPTE_TRANSITION",
	"_MMPTE_SUBSECTION", "_MMPTE_TIMESTAMP", "_MMPTE_LIST",
	"_KLDR_DATA_TABLE_ENTRY", "_HANDLE_TABLE", "_HANDLE_TABLE_ENTRY", "_OBJECT_HEADER", "_OBJECT_TYPE",
	"_MMPAGING_FILE", "_MI_SYSTEM_INFORMATION", "_DEVICE_OBJECT", "_EX_FAST_REF",
}

// pdbutil runs llvm-pdbutil dump with args on the kernel's PDB.
func pdbutil(t testing.TB, args ...string) []byte {
	t.Helper()
	requireTools(t, "llvm-pdbutil")
	pdb := filepath.Join(requireGuest(t), "ntkrnlmp.pdb")
	out, err := exec.Command("llvm-pdbutil", append(append([]string{"dump"}, args...), pdb)...).CombinedOutput()
	if err != nil {
		t.Fatalf("llvm-pdbutil dump %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// publicRecord matches an S_PUB32 line of `dump -publics`.
var publicRecord = regexp.MustCompile("S_PUB32 \\[size = \\d+\\] `([^`]+)`")

func TestPDBPublics(t *testing.T) {
	found := map[string]bool{}
	for _, m := range publicRecord.FindAllSubmatch(pdbutil(t, "-publics"), -1) {
		found[string(m[1])] = true
	}
	for _, name := range kernelPublics {
		if !found[name] {
			t.Errorf("ntkrnlmp.pdb has no public symbol %s", name)
		}
	}
}

// typeRecord matches the first line of a struct, class or union record of
// `dump -types`; its options follow on the next lines.
var (
	typeRecord = regexp.MustCompile("^\\s*0x[0-9A-F]+ \\| LF_(STRUCTURE|CLASS|UNION) \\[size = \\d+\\] `([^`]+)`")
	anyRecord  = regexp.MustCompile(`^\s*0x[0-9A-F]+ \| LF_`)
)

// TestPDBTypes checks that every type has a full definition, not just the
// forward reference a pointer to it would leave.
func TestPDBTypes(t *testing.T) {
	defined := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(pdbutil(t, "-types")))
	sc.Buffer(nil, 1<<20)
	current := ""
	for sc.Scan() {
		line := sc.Text()
		if m := typeRecord.FindStringSubmatch(line); m != nil {
			current = m[2]
			continue
		}
		if anyRecord.MatchString(line) { // another record starts
			current = ""
			continue
		}
		opts, ok := strings.CutPrefix(strings.TrimSpace(line), "options:")
		if ok && current != "" && !strings.Contains(opts, "forward ref") {
			defined[current] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, name := range kernelTypes {
		if !defined[name] {
			t.Errorf("ntkrnlmp.pdb has no full definition of %s", name)
		}
	}
}
