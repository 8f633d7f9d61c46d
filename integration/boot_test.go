package integration

import (
	"io"
	"testing"

	"github.com/frostvmi/frost/integration/guest/disk"
	"github.com/frostvmi/frost/integration/guest/minint"
)

const (
	pagefile = `C:\pagefile.sys`
	// pagefileNT is how NtCreatePagingFile sees it: smss passes the
	// NT path, as Windows' smss does.
	pagefileNT = `\??\C:\pagefile.sys`

	statusSuccess = 0
	winPEInRAM    = 0x80000000
	winPE         = 1
)

// bootCase is one row of issue 2's table.
type bootCase struct {
	name        string
	pagingFiles []string
	loadOptions string

	modeType  uint64 // InitWinPEModeType when Phase1InitializationDiscard leaves
	isWinPE   uint64 // InitIsWinPEMode then
	ejectable uint64 // IoIsDeviceEjectable(C:)
}

var bootCases = []bootCase{
	{name: "no-pagefile/empty", ejectable: 0},
	{name: "pagefile/empty", pagingFiles: []string{pagefile}, ejectable: 0},
	{name: "pagefile/MININT-INRAM", pagingFiles: []string{pagefile}, loadOptions: "MININT INRAM", modeType: winPEInRAM, isWinPE: 1, ejectable: 1},
	{name: "no-pagefile/MININT-INRAM", loadOptions: "MININT INRAM", modeType: winPEInRAM, isWinPE: 1, ejectable: 1},
	{name: "no-pagefile/MININT", loadOptions: "MININT", modeType: winPE, isWinPE: 1, ejectable: 0},
}

// TestBootConfigurations boots mini-NT to ready in the five configurations
// of issue 2 and checks each report, and the disk, against the table.
func TestBootConfigurations(t *testing.T) {
	requireGuest(t)
	for _, tc := range bootCases {
		t.Run(tc.name, func(t *testing.T) {
			m := start(t, minint.Config{Seed: minint.Seed(7), PagingFiles: tc.pagingFiles, LoadOptions: tc.loadOptions})
			waitEvent(t, m, "ready")
			rep := report(t, m)
			checkWinPE(t, rep, tc)
			checkEjectable(t, rep, tc.ejectable)
			vol := openDisk(t, m)
			if len(tc.pagingFiles) == 0 {
				checkNoPagingFile(t, rep, vol)
			} else {
				checkPagingFileCreated(t, rep, vol)
			}
		})
	}
}

func checkWinPE(t testing.TB, rep minint.Report, tc bootCase) {
	t.Helper()
	enter, ok := rep.First("phase1-discard-enter")
	if !ok {
		t.Fatal("no phase1-discard-enter event")
	}
	// Nothing but LoadOptions touches the mode before the parse.
	if v := uintField(t, enter, "InitWinPEModeType"); v != 0 {
		t.Errorf("InitWinPEModeType on entry = %#x, want 0", v)
	}
	leave, ok := rep.First("phase1-discard-leave")
	if !ok {
		t.Fatal("no phase1-discard-leave event")
	}
	if v := uintField(t, leave, "InitWinPEModeType"); v != tc.modeType {
		t.Errorf("InitWinPEModeType on leave = %#x, want %#x (%s)", v, tc.modeType, leave.Line)
	}
	if v := uintField(t, leave, "InitIsWinPEMode"); v != tc.isWinPE {
		t.Errorf("InitIsWinPEMode on leave = %d, want %d (%s)", v, tc.isWinPE, leave.Line)
	}
}

func checkEjectable(t testing.TB, rep minint.Report, want uint64) {
	t.Helper()
	e, ok := rep.First("ejectable")
	if !ok {
		t.Fatal("no ejectable event")
	}
	if v := uintField(t, e, "value"); v != want {
		t.Errorf("C: ejectable = %d, want %d (%s)", v, want, e.Line)
	}
}

func checkNoPagingFile(t testing.TB, rep minint.Report, vol *disk.Volume) {
	t.Helper()
	for _, name := range []string{"NtCreatePagingFile", "pagingfile"} {
		if evs := rep.All(name); len(evs) != 0 {
			t.Errorf("no paging file is configured, yet the report has %s: %s", name, evs[0].Line)
		}
	}
	e, err := vol.Extent(disk.PagefileName)
	if err != nil {
		t.Fatal(err)
	}
	if e.Exists() {
		t.Errorf("%s exists on the disk: %+v", disk.PagefileName, e)
	}
	if ext := readExtent(t, vol, disk.PagefileName); !allBytes(ext, disk.NeverWritten) {
		t.Errorf("%s extent was written although no paging file was created", disk.PagefileName)
	}
}

func checkPagingFileCreated(t testing.TB, rep minint.Report, vol *disk.Volume) {
	t.Helper()
	calls := rep.All("NtCreatePagingFile")
	if len(calls) != 1 {
		t.Fatalf("%d NtCreatePagingFile events, want 1", len(calls))
	}
	call := calls[0]
	if call.Get("name") != pagefileNT {
		t.Errorf("NtCreatePagingFile name = %q, want %q", call.Get("name"), pagefileNT)
	}
	if s := uintField(t, call, "status"); s != statusSuccess {
		t.Errorf("NtCreatePagingFile status = %#08x, want STATUS_SUCCESS (%s)", s, call.Line)
	}
	minSize := uintField(t, call, "min")

	regs := rep.All("pagingfile")
	if len(regs) != 1 {
		t.Fatalf("%d pagingfile events, want 1", len(regs))
	}
	reg := regs[0]
	if reg.Get("name") != pagefileNT {
		t.Errorf("pagingfile name = %q, want %q", reg.Get("name"), pagefileNT)
	}

	if size := uintField(t, reg, "size"); size != minSize {
		t.Errorf("pagingfile registered with size %#x, want MinimumSize %#x", size, minSize)
	}
	// The memory manager may grow the file (zeroing each new MiB first)
	// up to MaximumSize; the last pagingfile-extended event has its size.
	want := minSize
	for _, ext := range rep.All("pagingfile-extended") {
		want = uintField(t, ext, "size")
	}
	maxSize := uintField(t, call, "max")

	e, err := vol.Extent(disk.PagefileName)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Exists() || e.Size != want || e.Size < minSize || e.Size > maxSize {
		t.Errorf("%s on disk = %+v, want existing with the size the report gives (%#x), in [MinimumSize %#x, MaximumSize %#x]",
			disk.PagefileName, e, want, minSize, maxSize)
	}
	if off := uintField(t, reg, "offset"); off != e.Offset {
		t.Errorf("pagingfile offset = %#x, but the disk's extent is at %#x", off, e.Offset)
	}
	ext := readExtent(t, vol, disk.PagefileName)
	if e.Size > uint64(len(ext)) {
		t.Fatalf("file size %#x exceeds the %#x-byte extent", e.Size, len(ext))
	}
	// Creation zeroes MinimumSize bytes and growth zeroes before use, so no
	// page of the file may still hold the image's never-written fill, and
	// nothing past the file's end may have been touched. (Paged-out
	// contents vary; only the fill is known.)
	const page = 4096
	for off := uint64(0); off < e.Size; off += page {
		if allBytes(ext[off:min(off+page, e.Size)], disk.NeverWritten) {
			t.Errorf("page at %#x of %s was never written (still %#x)", off, disk.PagefileName, disk.NeverWritten)
			break
		}
	}
	if !allBytes(ext[e.Size:], disk.NeverWritten) {
		t.Errorf("bytes past the file's end (%#x) were written", e.Size)
	}
}

func readExtent(t testing.TB, vol *disk.Volume, name string) []byte {
	t.Helper()
	r, err := vol.ReadExtent(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func allBytes(b []byte, v byte) bool {
	for _, c := range b {
		if c != v {
			return false
		}
	}
	return true
}
