package api_test

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostvmi/frost/api"
	"github.com/frostvmi/frost/integration/guest/minint"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/qmp"
	"github.com/frostvmi/frost/winboot"
)

// Issue 12 item 6: a dump through the API after a winboot boot, which
// attaches at reset (when the i440fx PAM window 0xc0000-0xfffff is still
// ROM), holds exactly what QEMU's own dump-guest-memory holds, page for
// page, over all of guest RAM. QEMU is launched directly and its dump
// asked for over QMP: libvirt 9.0's libvirtd crashes on the
// DUMP_COMPLETED event of a dump it did not start.
func TestDumpMatchesQEMUAfterWinboot(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no guest boots")
	}
	dir := guestDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	m, err := minint.Start(ctx, minint.Config{GuestDir: dir, Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()

	// As Boot does: take charge before the first instruction, then let
	// winboot run the guest to csrss.
	tg, err := vmi.OpenQEMU(ctx, m.Machine, vmi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vm, err := session.New(&session.Config{}, "mini-nt", "", tg)
	if err != nil {
		tg.Close(ctx)
		t.Fatal(err)
	}
	mgr := vm.Manager()
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if err := vm.Close(cctx); err != nil {
			t.Errorf("letting the guest go: %v", err)
		}
	}()
	st, err := store.New(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	st.Offline = true
	if _, err := winboot.Run(ctx, tg, mgr, winboot.Options{
		Symbols: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}); err != nil {
		t.Fatalf("winboot: %v", err)
	}
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatal(err)
	}

	reg := session.NewRegistry(nil, nil)
	if err := reg.Add(vm); err != nil {
		t.Fatal(err)
	}
	cc, _ := serve(t, api.Config{Registry: reg})
	mem := pb.NewMemoryServiceClient(cc)

	// Both dumps of one stopped guest.
	if _, err := mgr.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := mgr.Resume(context.Background()); err != nil {
			t.Errorf("resuming: %v", err)
		}
	}()
	pm, err := mem.GetPhysicalMap(ctx, &pb.GetPhysicalMapRequest{Vm: "mini-nt"})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for i, r := range pm.GetRanges() {
		listed = append(listed, fmt.Sprintf("[%#x, %#x)", r.GetStart(), r.GetEnd()))
		if i > 0 && pm.GetRanges()[i-1].GetEnd() >= r.GetStart() {
			t.Errorf("GetPhysicalMap: range %d [%#x, %#x) touches or overlaps the one before: adjacent ranges must be merged",
				i, r.GetStart(), r.GetEnd())
		}
	}
	t.Logf("GetPhysicalMap: %v", listed)
	frost := frostDump(ctx, t, mem, pm.GetRanges())

	ramSize, core := qemuDump(ctx, t, m)
	// mini-NT's RAM lies below the PCI hole: guest RAM is every page QEMU
	// dumped below the RAM size (above it are vga.vram and the BIOS ROM,
	// which are not guest RAM).
	compareDumps(t, frost, core, ramSize)
}

// frostDump reads every listed range as `frostctl dump` does: one
// StreamPhysical per range. It maps page addresses to their bytes.
func frostDump(ctx context.Context, t *testing.T, mem pb.MemoryServiceClient, ranges []*pb.PhysicalRange) map[uint64][]byte {
	t.Helper()
	pages := map[uint64][]byte{}
	for _, r := range ranges {
		s, err := mem.StreamPhysical(ctx, &pb.StreamPhysicalRequest{Vm: "mini-nt", Address: r.GetStart(), Length: r.GetEnd() - r.GetStart()})
		if err != nil {
			t.Fatal(err)
		}
		for {
			c, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("StreamPhysical [%#x, %#x): %v", r.GetStart(), r.GetEnd(), err)
			}
			for _, p := range c.GetPages() {
				if !p.GetServed() {
					t.Errorf("StreamPhysical of a listed range did not serve %#x+%#x: %s", p.GetAddress(), p.GetLength(), p.GetReason())
				}
			}
			addPages(pages, c.GetAddress(), c.GetData())
		}
	}
	return pages
}

// addPages files data read at addr by page; both dumps are page-aligned.
func addPages(pages map[uint64][]byte, addr uint64, data []byte) {
	for off := 0; off+4096 <= len(data); off += 4096 {
		pages[addr+uint64(off)] = data[off : off+4096]
	}
}

// qemuDump asks QEMU for its own ELF core over QMP and returns the RAM
// size QEMU reports and the core's PT_LOAD pages.
func qemuDump(ctx context.Context, t *testing.T, m *minint.Machine) (uint64, map[uint64][]byte) {
	t.Helper()
	c, err := qmp.Dial(ctx, m.QMPSocket())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var size struct {
		BaseMemory uint64 `json:"base-memory"`
	}
	if err := c.Execute(ctx, "query-memory-size-summary", nil, &size); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "qemu.core")
	// Synchronous (no detach): the reply comes once the file is written.
	if err := c.Execute(ctx, "dump-guest-memory", map[string]any{"paging": false, "protocol": "file:" + path}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pages := map[uint64][]byte{}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			t.Fatalf("QEMU's core: segment at %#x: %v", p.Paddr, err)
		}
		addPages(pages, p.Paddr, data)
	}
	return size.BaseMemory, pages
}

// compareDumps checks that Frost's dump and QEMU's hold the same guest-RAM
// pages with the same bytes.
func compareDumps(t *testing.T, frost, core map[uint64][]byte, ramSize uint64) {
	t.Helper()
	var missing, missingNonZero, differ, extra int
	var firstMissing, firstDiffer, firstExtra []uint64
	zero := make([]byte, 4096)
	for gpa, want := range core {
		if gpa >= ramSize {
			continue
		}
		got, ok := frost[gpa]
		switch {
		case !ok:
			missing++
			if !bytes.Equal(want, zero) {
				missingNonZero++
			}
			if len(firstMissing) < 8 {
				firstMissing = append(firstMissing, gpa)
			}
		case !bytes.Equal(got, want):
			differ++
			if len(firstDiffer) < 8 {
				firstDiffer = append(firstDiffer, gpa)
			}
		}
	}
	for gpa := range frost {
		if _, ok := core[gpa]; !ok || gpa >= ramSize {
			extra++
			if len(firstExtra) < 8 {
				firstExtra = append(firstExtra, gpa)
			}
		}
	}
	t.Logf("QEMU's core: %d pages (%d below the RAM size %#x); Frost's dump: %d pages", len(core), countBelow(core, ramSize), ramSize, len(frost))
	if missing > 0 {
		t.Errorf("Frost's dump lacks %d guest-RAM pages of QEMU's (%d of them non-zero), e.g. %#x", missing, missingNonZero, firstMissing)
	}
	if differ > 0 {
		t.Errorf("%d pages differ from QEMU's, e.g. %#x", differ, firstDiffer)
	}
	if extra > 0 {
		t.Errorf("Frost's dump has %d pages QEMU's has not as guest RAM, e.g. %#x", extra, firstExtra)
	}
}

func countBelow(pages map[uint64][]byte, limit uint64) int {
	n := 0
	for gpa := range pages {
		if gpa < limit {
			n++
		}
	}
	return n
}
