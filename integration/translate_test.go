package integration

import (
	"bytes"
	"context"
	"debug/pe"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/frostvmi/frost/integration/guest/disk"
	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi"
)

// The translator's end-to-end checks (issue 6): swapper's pattern region
// and its image view, read through translate over the guest's RAM with the
// guest held still, against what they must hold.

// frostimg is the image swapper maps, by its volume path.
const frostimg = disk.SystemDir + "frostimg.dll"

// kernelAt is a paused mini-NT held through a vmi.Target, with its kernel
// model and its C: volume (paging-file extents and files).
type kernelAt struct {
	m   *minint.Machine
	rep minint.Report
	tgt vmi.Target
	k   *nt.Opened
	vol *disk.Volume
}

// openKernel takes charge of a machine at ready through a vmi.Target
// (which stops the guest) and opens its kernel from the guest's symbols.
func openKernel(t testing.TB, m *minint.Machine) *kernelAt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	tgt, err := vmi.OpenQEMU(ctx, m.Machine, vmi.Options{})
	if err != nil {
		t.Fatalf("taking charge of the guest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
		defer cancel()
		if err := tgt.Close(ctx); err != nil {
			t.Errorf("closing the target: %v", err)
		}
	})
	stop, err := tgt.Pause(ctx)
	if err != nil {
		t.Fatalf("pausing: %v", err)
	}
	return openKernelAt(t, m, tgt, stop, "", 0)
}

// openKernelAt opens the kernel of a stopped guest held through tgt, with
// symbols from symDir (the guest's build output when empty), scanning from
// from (RIP when 0).
func openKernelAt(t testing.TB, m *minint.Machine, tgt vmi.Target, stop *vmi.Stop, symDir string, from uint64) *kernelAt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	if stop.Registers == nil {
		t.Fatalf("stop without registers: %v", stop.RegistersErr)
	}
	ka := &kernelAt{m: m, rep: report(t, m), tgt: tgt}
	// QEMU finished the guest's disk writes before it stopped, so the image
	// holds what the guest put in its paging files.
	var err error
	if ka.vol, err = disk.Open(m.DiskPath()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ka.vol.Close() })
	ka.k, err = nt.Open(ctx, nt.Config{Physical: vmi.ReaderAt(tgt), Registers: stop.Registers, From: from, Symbols: guestSymbols(t, symDir), Pagefiles: ka.pagefile})
	if err != nil {
		t.Fatalf("opening the kernel: %v", err)
	}
	return ka
}

// pagefile serves a paging file from its extent in the disk image; the
// kernel names it \??\C:\pagefile.sys.
func (ka *kernelAt) pagefile(pf nt.PagingFile) (io.ReaderAt, error) {
	name := pf.Name
	if i := strings.Index(name, `:\`); i >= 0 {
		name = name[i+1:]
	}
	return ka.vol.ReadExtent(name)
}

// fileDir holds image files (frostimg.dll when none is named), copied
// from the disk image, where translate's FileDir finds them by the name
// the guest's FILE_OBJECT gives.
func (ka *kernelAt) fileDir(t testing.TB, names ...string) *translate.FileDir {
	t.Helper()
	if len(names) == 0 {
		names = []string{frostimg}
	}
	dir := t.TempDir()
	for _, name := range names {
		data, err := ka.vol.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.FromSlash(strings.ReplaceAll(strings.TrimPrefix(name, `\`), `\`, "/")))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	fd := translate.NewFileDir(root)
	t.Cleanup(func() { fd.Close() })
	return fd
}

// translator builds one over the guest's RAM, with or without the paging
// files and the image file.
func (ka *kernelAt) translator(t testing.TB, withFiles bool) *translate.Translator {
	t.Helper()
	opt := nt.TranslatorOptions{Physical: vmi.ReaderAt(ka.tgt), Files: ka.k.Files(nil)}
	if withFiles {
		opt.Pagefiles, opt.Files = ka.pagefile, ka.k.Files(ka.fileDir(t))
	}
	tr, err := ka.k.NewTranslator(opt)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// swapper finds swapper.exe through the kernel model and checks it against
// the guest's report.
func (ka *kernelAt) swapper(t testing.TB) (nt.Process, minint.Event) {
	t.Helper()
	sw := swapperEvent(t, ka.rep)
	p, err := ka.k.ProcessByPID(uintField(t, sw, "pid"))
	if err != nil {
		t.Fatalf("swapper.exe (pid %s): %v", sw.Get("pid"), err)
	}
	for _, e := range ka.rep.All("process") {
		if e.Get("name") == "swapper.exe" && uintField(t, e, "dtb") != p.DTB {
			t.Errorf("swapper's DTB %#x, the guest reported %s", p.DTB, e.Get("dtb"))
		}
	}
	return p, sw
}

// stateCounts tallies the pages of a read by state.
func stateCounts(r translate.ReadResult) map[string]int {
	n := map[string]int{}
	for _, pg := range r.Pages() {
		n[pg.Location.State.String()]++
	}
	return n
}

func TestTranslateEndToEnd(t *testing.T) {
	requireGuest(t)
	for _, tc := range []memoryCase{
		{"pagefile", minint.Config{Seed: minint.Seed(41), PagingFiles: []string{pagefile}}},
		{"aggressive-trim", minint.Config{Seed: minint.Seed(42), PagingFiles: []string{pagefile}, TrimAggressive: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := bootToReady(t, tc.cfg)
			ka := openKernel(t, m)
			p, sw := ka.swapper(t)
			base, pages := uintField(t, sw, "pattern-base"), uintField(t, sw, "pages")
			pagedOut := 0
			for _, e := range ka.rep.All("pagedout") {
				if va := uintField(t, e, "va"); va >= base && va < base+pages*4096 {
					pagedOut++
				}
			}

			// Pattern pages under a page table that is itself paged out: the
			// walk must go through the table's transition or pagefile page.
			var underOut []uint64
			for _, e := range ka.rep.All("pagetable-out") {
				lo, hi := max(uintField(t, e, "start"), base), min(uintField(t, e, "end"), base+pages*4096)
				for va := lo; va < hi; va += 4096 {
					underOut = append(underOut, va)
				}
			}
			if tc.cfg.TrimAggressive && len(underOut) == 0 {
				t.Error("no pattern page lies under a paged-out page table; the aggressive case must exercise one")
			}
			if len(underOut) > 0 {
				t.Logf("%d pattern pages lie under paged-out page tables; the first one's walk:\n%v", len(underOut), ka.translator(t, true).Vtop(p.DTB, underOut[0]))
			}

			t.Run("pattern/with-pagefile", func(t *testing.T) {
				buf := make([]byte, pages*4096)
				r := ka.translator(t, true).ReadVirtual(p.DTB, base, buf)
				counts := stateCounts(r)
				t.Logf("%d pattern pages by state: %v", pages, counts)
				recovered := 0
				for i := uint64(0); i < pages; i++ {
					if bytes.Equal(buf[i*4096:(i+1)*4096], patternPage(i)) {
						recovered++
					} else if recovered < 3 || i == pages-1 {
						t.Errorf("page %d (va %#x, %v): %x..., want %x...", i, base+i*4096, r.Pages()[i].Location, buf[i*4096:i*4096+16], patternPage(i)[:16])
					}
				}
				if err := r.Err(); err != nil {
					t.Errorf("read with the paging file supplied: %v", err)
				}
				if recovered != int(pages) {
					t.Errorf("recovered %d of %d pattern pages", recovered, pages)
				}
				if counts[translate.StatePagefile.String()] != pagedOut {
					t.Errorf("%d pages in the pagefile state, the guest reported %d paged out", counts[translate.StatePagefile.String()], pagedOut)
				}
			})

			t.Run("pattern/without-pagefile", func(t *testing.T) {
				buf := make([]byte, pages*4096)
				r := ka.translator(t, false).ReadVirtual(p.DTB, base, buf)
				var missing, intact int
				for i, pg := range r.Pages() {
					page := buf[i*4096 : (i+1)*4096]
					switch {
					case pg.Location.State == translate.StatePagefile:
						if !errors.Is(pg.Err, translate.ErrPagefileNotSupplied) {
							t.Fatalf("page %d in the pagefile state: error %v, want ErrPagefileNotSupplied", i, pg.Err)
						}
						missing++
					case pg.Err != nil:
						t.Errorf("page %d (%v): %v", i, pg.Location, pg.Err)
					case bytes.Equal(page, patternPage(uint64(i))):
						intact++
					default:
						t.Errorf("page %d (%v) served wrong bytes %x...", i, pg.Location, page[:16])
					}
				}
				t.Logf("without the paging file: %d pages served, %d reported in the pagefile", intact, missing)
				if missing != pagedOut || missing == 0 {
					t.Errorf("%d pages reported in the pagefile, the guest paged out %d", missing, pagedOut)
				}
			})

			t.Run("image-view", func(t *testing.T) {
				view, size := uintField(t, sw, "image-view"), uintField(t, sw, "image-size")
				want := mappedImage(t, ka.vol, size)
				buf := make([]byte, size)
				r := ka.translator(t, true).ReadVirtual(p.DTB, view, buf)
				t.Logf("image view %#x (%d pages) by state: %v", view, size/4096, stateCounts(r))
				if err := r.Err(); err != nil {
					t.Errorf("reading the image view with the file supplied: %v", err)
				}
				for i := uint64(0); i < size; i += 4096 {
					if !bytes.Equal(buf[i:i+4096], want[i:i+4096]) {
						t.Errorf("image page at RVA %#x (%v) differs from the file: %s", i, r.Pages()[i/4096].Location, firstDiff(buf[i:i+4096], want[i:i+4096]))
					}
				}
				// Without the file, the subsection pages are located and
				// named, not read as zeros.
				r = ka.translator(t, false).ReadVirtual(p.DTB, view, buf)
				var named []string
				for _, pg := range r.Pages() {
					if errors.Is(pg.Err, translate.ErrFileNotSupplied) {
						if pg.Location.File == nil {
							t.Errorf("page %#x: file not supplied but no file location", pg.VA)
							continue
						}
						named = append(named, pg.Location.File.Name)
					}
				}
				sort.Strings(named)
				if len(named) == 0 || !strings.EqualFold(named[0], frostimg) || !strings.EqualFold(named[len(named)-1], frostimg) {
					t.Errorf("file-backed pages without the file name %v, want %s", named, frostimg)
				}
			})
		})
	}
}

// firstDiff describes where two pages first differ.
func firstDiff(got, want []byte) string {
	for i := range got {
		if got[i] != want[i] {
			end := min(i+16, len(got))
			return fmt.Sprintf("at +%#x: %x, want %x", i, got[i:end], want[i:end])
		}
	}
	return "no difference"
}

// mappedImage lays the image file out as the loader maps it: headers at 0,
// each section's raw data at its RVA, zeros elsewhere (mini-NT maps only
// images whose file alignment is the page size).
func mappedImage(t testing.TB, vol *disk.Volume, size uint64) []byte {
	t.Helper()
	data, err := vol.ReadFile(frostimg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := pe.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, size)
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatal("frostimg.dll is not PE32+")
	}
	copy(img, data[:oh.SizeOfHeaders])
	for _, s := range f.Sections {
		raw, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		// The loader maps raw data page by page: bytes past VirtualSize
		// in the section's last page come from the file too.
		if span := (s.VirtualSize + 0xfff) &^ 0xfff; uint32(len(raw)) > span {
			raw = raw[:span]
		}
		if uint64(s.VirtualAddress)+uint64(len(raw)) > size {
			t.Fatalf("section %s ends past the view", s.Name)
		}
		copy(img[s.VirtualAddress:], raw)
	}
	return img
}
