package winboot

import (
	"fmt"
	"strings"
	"time"

	"github.com/frostvmi/frost/breakpoints"
)

// WinPEInRAM is InitWinPEModeType's "WinPE runs from RAM" bit: with it,
// IoIsDeviceEjectable says every volume is removable, and image sections
// are read into memory whole instead of being backed by their files.
const WinPEInRAM = 0x80000000

// Report is what winboot did to one boot of the guest.
type Report struct {
	// Boots is how many boots winboot saw the kernel of, and Resets how
	// many reset events came (QEMU may report one reset more than once);
	// the rest of the report is about the last boot.
	Boots, Resets int
	// Kernel is where ntoskrnl was found, and SymbolFile where its
	// symbols came from. Polls counts the looks it took, FoundAfter the
	// time from Run (or the reset) to the find.
	KernelBase  uint64
	KernelPDB   string
	SymbolFile  string
	Polls       int
	FoundAfter  time.Duration
	Breakpoints []BreakpointUse

	// InitWinPEModeType before winboot's OR, and as it was when
	// Phase1InitializationDiscard returned (after any re-apply).
	WinPEBefore, WinPEAfter uint32
	// ArmedBeforePhase1: the bit was set and the breakpoints armed before
	// Phase1InitializationDiscard ran (its entry was seen).
	ArmedBeforePhase1 bool
	// Phase1Returned: its return was seen and the bit checked there.
	Phase1Returned bool
	// Overwritten: the bit was gone at the return (something assigned
	// InitWinPEModeType instead of ORing), and winboot set it again.
	Overwritten bool

	// PagingFilesRefused are the names smss asked NtCreatePagingFile for,
	// each answered STATUS_SUCCESS without the function running.
	PagingFilesRefused []string
	// CsrssSeen: csrss.exe appeared, which ends the paging-file window.
	CsrssSeen bool

	// Late says winboot came after something it had to stop; Missed says
	// exactly what, and what it found done.
	Late   bool
	Missed []string
	// Problems are winboot's handlers that failed at a hit: their edits
	// were dropped and the guest ran on, so that step did not happen.
	Problems []string
	// Done: every step finished and every breakpoint is removed.
	Done bool
}

// BreakpointUse is one breakpoint winboot armed, and how.
type BreakpointUse struct {
	Function  string
	Addr      uint64
	Placement breakpoints.Placement
}

// Visible says whether any breakpoint winboot used wrote into guest
// memory, where the guest could have seen it.
func (r *Report) Visible() bool {
	for _, b := range r.Breakpoints {
		if b.Placement.Visible {
			return true
		}
	}
	return false
}

// Success is a boot that winboot configured in time and completely.
func (r *Report) Success() bool {
	return r.Done && !r.Late && len(r.Problems) == 0 && r.ArmedBeforePhase1 && r.Phase1Returned && r.WinPEAfter&WinPEInRAM != 0
}

func (r *Report) String() string {
	var b strings.Builder
	status := "success"
	switch {
	case r.Late:
		status = "late"
	case !r.Success():
		status = "incomplete"
	}
	fmt.Fprintf(&b, "winboot: %s after %d boot(s), %d reset event(s)\n", status, r.Boots, r.Resets)
	fmt.Fprintf(&b, "  kernel            %s at %#x (symbols %s), found after %d polls, %v\n", r.KernelPDB, r.KernelBase, r.SymbolFile, r.Polls, r.FoundAfter.Round(time.Millisecond))
	fmt.Fprintf(&b, "  InitWinPEModeType %#08x -> %#08x", r.WinPEBefore, r.WinPEAfter)
	if r.Overwritten {
		b.WriteString(" (overwritten during Phase1InitializationDiscard; re-applied)")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  armed before Phase1InitializationDiscard: %v; its return checked: %v\n", r.ArmedBeforePhase1, r.Phase1Returned)
	fmt.Fprintf(&b, "  paging files refused: %d %q; csrss.exe seen: %v\n", len(r.PagingFilesRefused), r.PagingFilesRefused, r.CsrssSeen)
	for _, u := range r.Breakpoints {
		fmt.Fprintf(&b, "  breakpoint        nt!%s at %#x: %v\n", u.Function, u.Addr, u.Placement)
	}
	fmt.Fprintf(&b, "  visible in guest memory: %v\n", r.Visible())
	for _, m := range r.Missed {
		fmt.Fprintf(&b, "  missed: %s\n", m)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  failed: %s\n", p)
	}
	return b.String()
}

// Actions lists what winboot did and what it missed, one line each, for a
// status that is read line by line (the API's BootStatus, frostctl).
func (r *Report) Actions() []string {
	var a []string
	if r.KernelBase != 0 {
		a = append(a, fmt.Sprintf("found ntoskrnl (%s) at %#x after %d polls, %v", r.KernelPDB, r.KernelBase, r.Polls, r.FoundAfter.Round(time.Millisecond)))
		a = append(a, fmt.Sprintf("set InitWinPEModeType's WinPE-in-RAM bit: %#08x -> %#08x", r.WinPEBefore, r.WinPEBefore|WinPEInRAM))
	}
	for _, u := range r.Breakpoints {
		a = append(a, fmt.Sprintf("armed nt!%s at %#x (%v)", u.Function, u.Addr, u.Placement))
	}
	switch {
	case r.Overwritten:
		a = append(a, fmt.Sprintf("Phase1InitializationDiscard overwrote InitWinPEModeType; re-applied the bit at its return (%#08x)", r.WinPEAfter))
	case r.Phase1Returned:
		a = append(a, fmt.Sprintf("checked InitWinPEModeType at Phase1InitializationDiscard's return: %#08x", r.WinPEAfter))
	}
	for _, n := range r.PagingFilesRefused {
		a = append(a, fmt.Sprintf("refused NtCreatePagingFile(%s) with STATUS_SUCCESS", n))
	}
	if r.CsrssSeen {
		a = append(a, "csrss.exe started: the paging-file window closed")
	}
	if r.Done {
		a = append(a, "removed every breakpoint")
	}
	for _, m := range r.Missed {
		a = append(a, "missed: "+m)
	}
	for _, p := range r.Problems {
		a = append(a, "failed: "+p)
	}
	return a
}
