package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/integration/guest/disk"
	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/winboot"
)

// The boot-time configuration's checks (issue 7): winboot on mini-NT,
// judged by the guest's own report, by the disk image, and by how much of
// swapper's pattern Frost recovers.

// winbooted is a mini-NT booted under winboot.
type winbooted struct {
	m      *minint.Machine
	tgt    vmi.Target
	mgr    *breakpoints.Manager
	rep    *winboot.Report
	steps  []winboot.Step
	extent []byte // the paging file's extent before the boot
}

// bootWinboot starts cfg held before its first instruction, takes charge of
// it, and runs winboot with symbols from symDir (the guest's build output
// when empty).
func bootWinboot(t testing.TB, cfg minint.Config, symDir string) *winbooted {
	t.Helper()
	cfg.Paused = true
	m := start(t, cfg)
	w := &winbooted{m: m}
	if vol, err := disk.Open(m.DiskPath()); err == nil {
		w.extent = readExtent(t, vol, disk.PagefileName)
		vol.Close()
	} else {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	c, release, err := takeCharge(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := release(); err != nil {
			t.Errorf("letting the guest go: %v", err)
		}
	})
	w.tgt, w.mgr = c.tgt, c.mgr
	st := guestSymbols(t, symDir)
	w.rep, err = winboot.Run(ctx, w.tgt, w.mgr, winboot.Options{
		Symbols:  st,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)), // the steps are kept instead
		Progress: func(s winboot.Step) { w.steps = append(w.steps, s) },
	})
	if err != nil {
		t.Fatalf("winboot: %v\nsteps:\n%s\nserial:\n%s", err, w.stepLog(), serialTail(m.SerialPath()))
	}
	t.Logf("%v", w.rep)
	return w
}

func (w *winbooted) stepLog() string {
	var b strings.Builder
	for _, s := range w.steps {
		fmt.Fprintf(&b, "  boot %d %-13s %s\n", s.Boot, s.Stage, s.Message)
	}
	return b.String()
}

// checkCaseB checks a boot under winboot against the guest's own report:
// no paging file, WinPE in RAM from the start, ejectable, csrss and writer
// running, the disk's paging-file extent untouched.
func checkCaseB(t testing.TB, w *winbooted, rep minint.Report) {
	t.Helper()
	if !w.rep.Success() {
		t.Errorf("winboot did not report success:\n%v\nsteps:\n%s", w.rep, w.stepLog())
	}
	if w.rep.Visible() {
		t.Errorf("winboot used a visible breakpoint under TCG: %+v", w.rep.Breakpoints)
	}
	calls := rep.All("NtCreatePagingFile")
	if len(calls) == 0 {
		t.Error("smss never called NtCreatePagingFile")
	}
	for _, c := range calls {
		if s := uintField(t, c, "status"); s != statusSuccess {
			t.Errorf("smss saw status %#x from NtCreatePagingFile, want STATUS_SUCCESS", s)
		}
	}
	if len(w.rep.PagingFilesRefused) != len(calls) || (len(calls) > 0 && w.rep.PagingFilesRefused[0] != pagefileNT) {
		t.Errorf("winboot refused %q; smss asked %d times for %s", w.rep.PagingFilesRefused, len(calls), pagefileNT)
	}
	if n := len(rep.All("pagingfile")); n != 0 {
		t.Errorf("the kernel registered %d paging files under winboot", n)
	}
	enter, ok := rep.First("phase1-discard-enter")
	if !ok {
		t.Fatal("no phase1-discard-enter event")
	}
	if v := uintField(t, enter, "InitWinPEModeType"); v&winPEInRAM == 0 {
		t.Errorf("Phase1InitializationDiscard entered with InitWinPEModeType %#x: winboot was not in time (it says armed before: %v)", v, w.rep.ArmedBeforePhase1)
	}
	leave, _ := rep.First("phase1-discard-leave")
	// On a build that ORs, the value the guest printed as it left is what
	// winboot read at the return; after an overwrite winboot set it again
	// later, so the guest's print lacks the bit.
	if v := uintField(t, leave, "InitWinPEModeType"); !w.rep.Overwritten && uint32(v) != w.rep.WinPEAfter {
		t.Errorf("the guest left phase 1 with InitWinPEModeType %#x, winboot read %#x at the return", v, w.rep.WinPEAfter)
	}
	checkEjectable(t, rep, 1)
	var csrss bool
	for _, p := range rep.All("process") {
		csrss = csrss || p.Get("name") == "csrss.exe"
	}
	if !csrss || !w.rep.CsrssSeen {
		t.Errorf("csrss.exe started: guest %v, winboot %v", csrss, w.rep.CsrssSeen)
	}
	if len(rep.All("write")) == 0 {
		t.Error("writer.exe wrote nothing")
	}
}

// checkExtentUntouched compares the paging file's extent after the boot
// with its bytes before it.
func checkExtentUntouched(t testing.TB, w *winbooted) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	if err := w.m.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	vol, err := disk.Open(w.m.DiskPath())
	if err != nil {
		t.Fatal(err)
	}
	defer vol.Close()
	if after := readExtent(t, vol, disk.PagefileName); !bytes.Equal(after, w.extent) {
		t.Errorf("the paging file's extent changed during a winboot boot")
	}
}

// TestWinbootCaseB boots mini-NT with a paging file configured under
// winboot and checks everything the guest and its disk say.
func TestWinbootCaseB(t *testing.T) {
	requireGuest(t)
	w := bootWinboot(t, minint.Config{Seed: minint.Seed(51), PagingFiles: []string{pagefile}}, "")
	waitEvent(t, w.m, "ready")
	checkCaseB(t, w, report(t, w.m))
	checkExtentUntouched(t, w)
}

// TestWinbootArming boots case B with 20 seeds: winboot must arm before
// Phase1InitializationDiscard every time, as the guest's own report says.
func TestWinbootArming(t *testing.T) {
	requireGuest(t)
	var polls []int
	var found []time.Duration
	for seed := uint64(100); seed < 120; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := bootWinboot(t, minint.Config{Seed: minint.Seed(seed), PagingFiles: []string{pagefile}}, "")
			ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
			defer cancel()
			enter, err := w.m.WaitEvent(ctx, "phase1-discard-enter")
			if err != nil {
				t.Fatal(err)
			}
			guestInTime := uintField(t, enter, "InitWinPEModeType")&winPEInRAM != 0
			if !w.rep.ArmedBeforePhase1 || !guestInTime || w.rep.Late {
				t.Errorf("armed before Phase1InitializationDiscard: winboot %v (late %v), guest saw the bit at entry %v", w.rep.ArmedBeforePhase1, w.rep.Late, guestInTime)
			}
			polls = append(polls, w.rep.Polls)
			found = append(found, w.rep.FoundAfter)
		})
	}
	t.Logf("polls to find the kernel: %v; time to find it: %v", polls, found)
}

// TestWinbootReorder runs case B on the build whose structures and
// globals all moved: nothing in Frost may notice.
func TestWinbootReorder(t *testing.T) {
	out := requireGuest(t)
	w := bootWinboot(t, minint.Config{Seed: minint.Seed(52), PagingFiles: []string{pagefile}, Kernel: filepath.Join(out, "reorder", "ntoskrnl.exe")}, filepath.Join(out, "reorder"))
	waitEvent(t, w.m, "ready")
	checkCaseB(t, w, report(t, w.m))
}

// TestWinbootOverwrite runs on the "assign" build, whose
// Phase1InitializationDiscard assigns InitWinPEModeType instead of ORing:
// winboot's check at the return must catch it and set the bit again.
func TestWinbootOverwrite(t *testing.T) {
	out := requireGuest(t)
	w := bootWinboot(t, minint.Config{Seed: minint.Seed(53), PagingFiles: []string{pagefile}, Kernel: filepath.Join(out, "assign", "ntoskrnl.exe")}, filepath.Join(out, "assign"))
	waitEvent(t, w.m, "ready")
	rep := report(t, w.m)
	leave, ok := rep.First("phase1-discard-leave")
	if !ok {
		t.Fatal("no phase1-discard-leave event")
	}
	if v := uintField(t, leave, "InitWinPEModeType"); v&winPEInRAM != 0 {
		t.Fatalf("the assign build left phase 1 with the bit set (%#x): nothing was overwritten to catch", v)
	}
	if !w.rep.Overwritten || w.rep.WinPEAfter&winboot.WinPEInRAM == 0 {
		t.Errorf("winboot did not catch and repair the overwrite: %v", w.rep)
	}
	var said bool
	for _, s := range w.steps {
		said = said || (s.Stage == "phase1-return" && strings.Contains(s.Message, "overwritten"))
	}
	if !said {
		t.Errorf("winboot's progress never said the bit was overwritten:\n%s", w.stepLog())
	}
	checkEjectable(t, rep, 1)
}

// TestWinbootReset boots with the guest's reset-once option: the machine
// resets during phase 1 and winboot must start over and still succeed.
func TestWinbootReset(t *testing.T) {
	requireGuest(t)
	w := bootWinboot(t, minint.Config{Seed: minint.Seed(54), PagingFiles: []string{pagefile}, ResetOnce: true}, "")
	waitEvent(t, w.m, "ready")
	rep := report(t, w.m)
	if w.rep.Boots != 2 {
		t.Errorf("winboot saw %d boots, want 2 (one reset)\n%s", w.rep.Boots, w.stepLog())
	}
	if len(rep.All("reset")) != 1 {
		t.Errorf("the guest reported %d resets, want 1", len(rep.All("reset")))
	}
	// The report after the reset is the second boot's: cut the first.
	var second minint.Report
	for i, e := range rep {
		if e.Name == "loader" && uintField(t, e, "boot") == 2 {
			second = rep[i:]
		}
	}
	if second == nil {
		t.Fatal("no second boot in the report")
	}
	checkCaseB(t, w, second)
}
