package winboot

import (
	"errors"
	"strings"
	"testing"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

func TestReportSuccess(t *testing.T) {
	ok := Report{Boots: 1, Done: true, ArmedBeforePhase1: true, Phase1Returned: true, WinPEAfter: WinPEInRAM, CsrssSeen: true}
	if !ok.Success() {
		t.Fatalf("a complete, timely boot is not a success: %v", &ok)
	}
	for name, edit := range map[string]func(*Report){
		"late":            func(r *Report) { r.Late = true; r.Missed = []string{"smss.exe already runs"} },
		"not done":        func(r *Report) { r.Done = false },
		"entry not seen":  func(r *Report) { r.ArmedBeforePhase1 = false },
		"return not seen": func(r *Report) { r.Phase1Returned = false },
		"bit missing":     func(r *Report) { r.WinPEAfter = 1 },
		"handler failed":  func(r *Report) { r.Problems = []string{"nt!NtCreatePagingFile: unreadable [rsp]"} },
	} {
		r := ok
		edit(&r)
		if r.Success() {
			t.Errorf("%s: reported as success", name)
		}
		s := r.String()
		if strings.Contains(s, "winboot: success") {
			t.Errorf("%s: the summary says success:\n%s", name, s)
		}
	}
	late := ok
	late.Late, late.Missed = true, []string{"Phase1InitializationDiscard already ran"}
	if s := late.String(); !strings.Contains(s, "winboot: late") || !strings.Contains(s, "missed: Phase1InitializationDiscard already ran") {
		t.Errorf("a late report does not say what was missed:\n%s", s)
	}
}

func TestReportVisible(t *testing.T) {
	r := Report{Breakpoints: []BreakpointUse{{Function: fnPhase1, Placement: breakpoints.Placement{Kind: gdbstub.Hardware}}}}
	if r.Visible() {
		t.Error("a hardware breakpoint counted as visible")
	}
	r.Breakpoints = append(r.Breakpoints, BreakpointUse{Function: fnPagingFile, Placement: breakpoints.Placement{Kind: gdbstub.Software, Visible: true}})
	if !r.Visible() {
		t.Error("a visible software breakpoint went unreported")
	}
}

func TestLifecycleErr(t *testing.T) {
	if err := lifecycleErr(breakpoints.Event{Kind: breakpoints.EventReset, Reason: "guest-reset"}, true); !errors.Is(err, errReset) || !strings.Contains(err.Error(), "guest-reset") {
		t.Errorf("reset: %v", err)
	}
	if err := lifecycleErr(breakpoints.Event{Kind: breakpoints.EventShutdown}, true); err == nil || errors.Is(err, errReset) {
		t.Errorf("shutdown: %v", err)
	}
	if err := lifecycleErr(breakpoints.Event{}, false); err == nil {
		t.Error("a closed subscription is not an error")
	}
	if err := lifecycleErr(breakpoints.Event{Kind: breakpoints.EventHit}, true); err != nil {
		t.Errorf("a hit ends the boot: %v", err)
	}
}

func TestRunNeedsItsInputs(t *testing.T) {
	if _, err := Run(t.Context(), nil, nil, Options{}); err == nil {
		t.Error("Run without a target")
	}
}

func TestReportActions(t *testing.T) {
	r := Report{KernelBase: 0xfffff80000000000, KernelPDB: "ntkrnlmp.pdb", WinPEAfter: 0x80000001, Phase1Returned: true, Overwritten: true,
		PagingFilesRefused: []string{`\??\C:\pagefile.sys`}, CsrssSeen: true, Done: true, Missed: []string{"x"}}
	got := strings.Join(r.Actions(), "\n")
	for _, want := range []string{"WinPE-in-RAM bit", "re-applied", `refused NtCreatePagingFile(\??\C:\pagefile.sys)`, "removed every breakpoint", "missed: x"} {
		if !strings.Contains(got, want) {
			t.Errorf("actions lack %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "missed: x"); n != 1 {
		t.Errorf("the missed step is listed %d times", n)
	}
}
