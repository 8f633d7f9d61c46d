package winboot

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/frostvmi/frost/nt/nttest"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// A whole boot, hit by hit: the bit set at the find, Phase1's entry and a
// return that finds the bit overwritten (re-applied), a paging file
// refused with its registers emulating the return, csrss, every
// breakpoint removed.
func TestRunOnFakeBoot(t *testing.T) {
	ctx := testCtx(t)
	b := newFakeBoot(t)
	b.setWinPE(0x2)
	b.run(ctx)
	b.armed(ctx, 2)
	if v := b.winPE(); v != 0x2|WinPEInRAM {
		t.Errorf("InitWinPEModeType %#x after the find, want %#x", v, 0x2|WinPEInRAM)
	}

	ret := uint64(nttest.KernelBase + 0x2000)
	rsp := b.g.Call(ret)
	b.hit(ctx, b.g.Registers(b.g.Global(fnPhase1), rsp))
	b.armed(ctx, 2) // the entry was one-shot; its return is armed
	b.setWinPE(0x2) // a build that assigns the variable
	b.hit(ctx, b.g.Registers(ret, rsp+8))
	if v := b.winPE(); v&WinPEInRAM == 0 {
		t.Errorf("the overwritten bit was not re-applied: %#x", v)
	}

	caller := uint64(nttest.KernelBase + 0x3000)
	regs := b.pagingFileCall(`\??\C:\pagefile.sys`, caller)
	b.hit(ctx, regs)
	if rip, rax, sp := b.reg("rip"), b.reg("rax"), b.reg("rsp"); rip != caller || rax != 0 || sp != regs["rsp"]+8 {
		t.Errorf("after NtCreatePagingFile: rip %#x rax %#x rsp %#x; want the return emulated: %#x 0 %#x", rip, rax, sp, caller, regs["rsp"]+8)
	}

	b.g.Process(4, 0, "System")
	b.g.Process(500, 4, "csrss.exe")
	rep, err := b.wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Done || rep.Late || !rep.ArmedBeforePhase1 || !rep.Phase1Returned || !rep.Overwritten || !rep.CsrssSeen {
		t.Errorf("report %+v", rep)
	}
	if !slices.Equal(rep.PagingFilesRefused, []string{`\??\C:\pagefile.sys`}) || len(rep.Problems) != 0 {
		t.Errorf("refused %q, problems %q", rep.PagingFilesRefused, rep.Problems)
	}
	if armed := b.tg.Armed(); len(armed) != 0 {
		t.Errorf("left armed: %v", armed)
	}
	if running, _ := b.tg.Running(); !running {
		t.Error("the guest is left stopped")
	}
}

// unmappedStack is a stack pointer into nothing.
const unmappedStack = nttest.StackTop + 0x100000

// A handler that fails between the stop and the resume: its edits are
// dropped whole (the registers stay as the guest had them), the guest
// runs on, and the report names the problem instead of a refusal.
func TestRunHandlerErrorDropsItsEdits(t *testing.T) {
	ctx := testCtx(t)
	b := newFakeBoot(t)
	b.run(ctx)
	b.armed(ctx, 2)
	regs := b.pagingFileCall(`\??\C:\pagefile.sys`, nttest.KernelBase+0x3000)
	// Its stack is not mapped: the return address cannot be read.
	regs["rsp"] = unmappedStack
	b.hit(ctx, regs)
	if rax, rip := b.reg("rax"), b.reg("rip"); rax != 0xdead || rip == nttest.KernelBase+0x3000 {
		t.Errorf("a failed handler's edits were applied: rax %#x rip %#x", rax, rip)
	}
	b.g.Process(500, 4, "csrss.exe")
	// Phase1InitializationDiscard's return will never be checked now
	// unless it is hit; hit its entry with a stack that cannot be read
	// either, which ends the wait for it as a problem too.
	b.hit(ctx, b.g.Registers(b.g.Global(fnPhase1), unmappedStack))
	rep, err := b.wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.PagingFilesRefused) != 0 || len(rep.Problems) != 2 || !strings.Contains(rep.Problems[0], fnPagingFile) {
		t.Errorf("refused %q, problems %q", rep.PagingFilesRefused, rep.Problems)
	}
	if !rep.Done || len(b.tg.Armed()) != 0 {
		t.Errorf("done %v, armed %v", rep.Done, b.tg.Armed())
	}
}

// A reset after the breakpoints are armed: the manager drops them, winboot
// starts over on the next boot, finds the kernel again and arms again.
func TestRunStartsOverAfterAReset(t *testing.T) {
	ctx := testCtx(t)
	b := newFakeBoot(t)
	b.run(ctx)
	b.armed(ctx, 2)
	b.setWinPE(0) // the new boot's kernel has a fresh variable
	b.tg.Reset("guest-reset")
	if err := b.tg.Wait(ctx, func(s vmitest.State) bool {
		n := 0
		for _, c := range s.Calls {
			if c.Op == vmitest.OpInsert && c.Err == nil {
				n++
			}
		}
		return n == 4 && s.Armed == 2 && s.Running
	}); err != nil {
		t.Fatalf("not armed again after the reset: %v (inserted %v)", err, b.tg.Inserted())
	}
	if v := b.winPE(); v&WinPEInRAM == 0 {
		t.Errorf("the new boot's InitWinPEModeType %#x lacks the bit", v)
	}
	rsp := b.g.Call(nttest.KernelBase + 0x2000)
	b.hit(ctx, b.g.Registers(b.g.Global(fnPhase1), rsp))
	b.hit(ctx, b.g.Registers(nttest.KernelBase+0x2000, rsp+8))
	b.g.Process(500, 4, "csrss.exe")
	rep, err := b.wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Resets != 1 || rep.Boots != 2 || !rep.Done || !rep.Phase1Returned {
		t.Errorf("report after a reset: %+v", rep)
	}
}

// An operator pauses the guest while winboot watches for csrss: winboot
// finishes its work on the paused guest (reads need no run) and leaves it
// paused, as the operator wants; the operator's resume lets it go.
func TestRunLeavesAnOutsidePauseAlone(t *testing.T) {
	ctx := testCtx(t)
	b := newFakeBoot(t)
	b.run(ctx)
	b.armed(ctx, 2)
	rsp := b.g.Call(nttest.KernelBase + 0x2000)
	b.hit(ctx, b.g.Registers(b.g.Global(fnPhase1), rsp))
	b.hit(ctx, b.g.Registers(nttest.KernelBase+0x2000, rsp+8))
	if _, err := b.tg.OutsidePause(ctx, false); err != nil {
		t.Fatal(err)
	}
	resumes := b.tg.Count(vmitest.OpResume)
	b.g.Process(500, 4, "csrss.exe")
	rep, err := b.wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Done || len(b.tg.Armed()) != 0 {
		t.Errorf("done %v, armed %v", rep.Done, b.tg.Armed())
	}
	if running, _ := b.tg.Running(); running || b.tg.Count(vmitest.OpResume) != resumes {
		t.Error("winboot resumed a guest an operator paused")
	}
	if err := b.tg.OutsideResume("virsh resume"); err != nil {
		t.Fatal(err)
	}
}

// The guest goes away mid-boot: Run returns an error saying so, and the
// report says how far it got.
func TestRunReportsAGuestThatIsGone(t *testing.T) {
	ctx := testCtx(t)
	b := newFakeBoot(t)
	b.run(ctx)
	b.armed(ctx, 2)
	b.tg.Gone(errors.New("QEMU exited"))
	rep, err := b.wait(ctx)
	if err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("Run: %v, want the guest gone", err)
	}
	if rep == nil || rep.Done || rep.KernelBase != nttest.KernelBase {
		t.Errorf("report %+v", rep)
	}
}

// A resume that fails after the find is Run's error, with the guest's
// breakpoints removed.
func TestRunResumeFailure(t *testing.T) {
	ctx := testCtx(t)
	b := newFakeBoot(t)
	boom := errors.New("stub broke")
	b.tg.Hook(vmitest.OpInsert, func(vmitest.Call) error {
		if len(b.tg.Inserted()) == 1 { // the second insert: the last before the resume
			b.tg.FailNext(vmitest.OpResume, boom)
		}
		return nil
	})
	b.run(ctx)
	rep, err := b.wait(ctx)
	if !errors.Is(err, boom) {
		t.Errorf("Run: %v, want the resume's failure", err)
	}
	if rep == nil || rep.KernelBase == 0 {
		t.Errorf("report %+v", rep)
	}
}
