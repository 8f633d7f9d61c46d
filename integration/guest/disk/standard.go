package disk

import (
	"fmt"
	"os"
	"path/filepath"
)

// The standard image: what the guest's smss, kernel and writer expect.
const (
	// StandardSize is the size of the image NewStandard makes.
	StandardSize = 64 << 20

	PagefileName  = `\pagefile.sys`
	Pagefile2Name = `\pagefile2.sys`
	LogName       = `\frost\log.txt`

	// PagefileCapacity is the extent each paging file may grow into.
	PagefileCapacity = 8 << 20
	// LogCapacity bounds \frost\log.txt.
	LogCapacity = 4 << 20

	// NeverWritten fills paging-file extents, so a test can tell bytes
	// the guest zeroed or wrote from bytes nobody touched.
	NeverWritten = 0xE5

	// standardAlign puts every extent on a MiB boundary: it wastes nothing
	// in a sparse file and makes offsets readable in a hex dump.
	standardAlign = 1 << 20
)

// StandardExecutables are the user-mode images NewStandard copies from the
// guest build directory, in table order: the programs smss starts,
// frostimg.dll, the image swapper.exe maps as a section, the DLLs the
// programs import (ntdll.dll, frostrt.dll), and netclient.exe, which smss
// starts only on a machine with a NIC (last, so every other file keeps its
// extent).
var StandardExecutables = []string{"smss.exe", "csrss.exe", "writer.exe", "swapper.exe", "frostimg.dll", "ntdll.dll", "frostrt.dll", "netclient.exe"}

// SystemDir is where the executables live on the volume.
const SystemDir = `\Windows\System32\`

// NewStandard writes the standard C: image to imagePath: both paging files
// and the log reserved, and the StandardExecutables copied from guestOutDir
// (the guest's build output).
func NewStandard(imagePath, guestOutDir string) error {
	off := uint64(standardAlign)
	next := func(capacity uint64) uint64 {
		o := off
		off = roundUp(off+capacity, standardAlign)
		return o
	}
	files := []File{
		{Name: PagefileName, Offset: next(PagefileCapacity), Capacity: PagefileCapacity, Fill: NeverWritten},
		{Name: Pagefile2Name, Offset: next(PagefileCapacity), Capacity: PagefileCapacity, Fill: NeverWritten},
		{Name: LogName, Offset: next(LogCapacity), Capacity: LogCapacity},
	}
	for _, exe := range StandardExecutables {
		data, err := os.ReadFile(filepath.Join(guestOutDir, exe))
		if err != nil {
			return fmt.Errorf("disk: standard image needs the guest's %s (run `make guest`): %w", exe, err)
		}
		capacity := roundUp(uint64(len(data)), SectorSize)
		files = append(files, File{Name: SystemDir + exe, Exists: true, Data: data, Offset: next(capacity), Capacity: capacity})
	}
	if off > StandardSize {
		return fmt.Errorf("disk: the standard files need %d bytes, more than the %d-byte image", off, StandardSize)
	}
	return Create(imagePath, StandardSize, files)
}
