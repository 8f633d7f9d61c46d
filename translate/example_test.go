package translate_test

import (
	"fmt"
	"io"
	"os"

	"github.com/frostvmi/frost/translate"
)

// The wiring of an end-to-end read, as nt and vmi will do it for mini-NT:
// the caller has the guest's RAM, the kernel's symbols, the DTB and the
// paging-file extents from the guest's report, the disk image, and a
// directory of the guest's files. (Compiled, not run: it needs a guest.)
func Example() {
	var (
		ram       io.ReaderAt                             // vmi/physmem: the RAM file
		sym       translate.Symbols                       // an adapter over symbols.Table
		invalid   uint64                                  // MiState.Hardware.InvalidPteMask, read from the guest
		disk      io.ReaderAt                             // the C: image
		pfOff     int64                                   // "pagingfile ... offset=" from the report
		pfSize    int64                                   // "... size="
		kernelDTB uint64                                  // the System process's DirectoryTableBase
		dtb       uint64                                  // swapper's "process ... dtb="
		vads      translate.VADResolver                   // nt: walks the process's VAD tree
		names     func(subsection uint64) (string, error) // nt: subsection → control area → FILE_OBJECT name
		va        uint64                                  // swapper's pattern-base
	)
	layout, err := translate.NewLayout(sym)
	if err != nil {
		panic(err)
	}
	root, err := os.OpenRoot("/srv/guest-files")
	if err != nil {
		panic(err)
	}
	defer root.Close()
	files := translate.NewFileDir(root)
	defer files.Close()

	t, err := translate.New(translate.Config{
		Layout:      layout,
		SwizzleMask: translate.SwizzleMask(layout, translate.SwizzleSource{HaveInvalidPteMask: true, InvalidPteMask: invalid}),
		Physical:    ram,
		KernelDTB:   kernelDTB,
		VADs:        vads,
		Pagefiles:   map[uint64]translate.Pagefile{0: {Data: io.NewSectionReader(disk, pfOff, pfSize)}},
		Files:       translate.FilesByName{Names: names, Dir: files},
	})
	if err != nil {
		panic(err)
	}
	t.Stopped() // QMP stop: the cache may serve until the next Resumed

	buf := make([]byte, 64<<10)
	res := t.ReadVirtual(dtb, va, buf)
	for _, p := range res.Pages() {
		if p.Err != nil {
			fmt.Printf("0x%x: %s: %v\n", p.VA, p.Location, p.Err)
		}
	}
	fmt.Print(t.Vtop(dtb, va))
	runs, _ := t.VadMap(dtb, va, va+uint64(len(buf)))
	for _, r := range runs {
		fmt.Println(r)
	}
}
