package integration

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/nt"
)

// TestTokensAndTimersAgainstReport (issue 15.3): on each kernel build,
// every process's primary token as Frost reads it through the PDB (user,
// groups, integrity label, privileges, and the _EX_FAST_REF it hangs
// from) and the armed timers on KiTimerTableListHead, at ready, against
// what the guest reported when it made them.
func TestTokensAndTimersAgainstReport(t *testing.T) {
	eachBuild(t, 91, func(t *testing.T, ka *kernelAt) {
		checkTokens(t, ka)
		checkTimers(t, ka)
		checkThreadCreateTimes(t, ka)
		checkAuditNames(t, ka)
	})
}

func checkTokens(t *testing.T, ka *kernelAt) {
	want, err := ka.rep.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	procs, err := ka.k.Processes()
	if err != nil {
		t.Fatal(err)
	}
	tokenField, err := ka.k.Symbols().Field("_EPROCESS.Token")
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{}
	for _, p := range procs {
		w, ok := want[p.PID]
		if !ok {
			t.Errorf("%s: the guest reported no token", p)
			continue
		}
		got, err := ka.k.Token(p)
		if err != nil {
			t.Errorf("%s: Token: %v", p, err)
			continue
		}
		// The fast reference as it is in memory: the count in its low
		// bits is not 0, so a reader that kept them would miss the token.
		if ref := readU64(t, ka, ka.k.DTB(), p.EPROCESS+tokenField.Offset); ref != w.FastRef || ref == got.Address {
			t.Errorf("%s: _EPROCESS.Token %#x, the guest reported %#x for the token at %#x", p, ref, w.FastRef, got.Address)
		}
		if got.Address != w.Address || got.TokenID&0xffffffff != w.TokenID || got.AuthenticationID&0xffffffff != w.AuthenticationID ||
			got.SessionID != w.Session || got.Type != w.Type {
			t.Errorf("%s: Frost read token %+v, the guest reported %+v", p, got, w)
		}
		if got.Privileges != (nt.Privileges{Present: w.Present, Enabled: w.Enabled, EnabledByDefault: w.EnabledByDefault}) {
			t.Errorf("%s: privileges %+v, the guest reported present %#x enabled %#x default %#x", p, got.Privileges,
				w.Present, w.Enabled, w.EnabledByDefault)
		}
		var sids []minint.TokenSID
		for _, s := range append([]nt.SIDAndAttributes{got.User}, got.Groups...) {
			sids = append(sids, minint.TokenSID{SID: s.SID, Attributes: s.Attributes})
		}
		if !slices.Equal(sids, w.SIDs) {
			t.Errorf("%s: SIDs %+v, the guest reported %+v", p, sids, w.SIDs)
		}
		if got.IntegrityLevel != w.SIDs[w.IntegrityIndex].SID {
			t.Errorf("%s: integrity level %q, the guest reported %q", p, got.IntegrityLevel, w.SIDs[w.IntegrityIndex].SID)
		}
		users[got.User.SID] = true
	}
	// SYSTEM and the interactive user: both kinds of token were read.
	if !users["S-1-5-18"] || len(users) != 2 {
		t.Errorf("token users %v, want SYSTEM and one interactive user", users)
	}
}

func checkTimers(t *testing.T, ka *kernelAt) {
	table, err := ka.rep.TimerTable()
	if err != nil {
		t.Fatal(err)
	}
	if a, err := ka.k.Address("KiTimerTableListHead"); err != nil || a != table.Address {
		t.Errorf("KiTimerTableListHead at %#x (%v), the guest reported %#x", a, err, table.Address)
	}
	reported, err := ka.rep.Timers()
	if err != nil {
		t.Fatal(err)
	}
	balance, ok := reported["KiBalanceSetManagerTimer"]
	if !ok {
		t.Fatal("the guest reported no balance set manager timer")
	}
	timers, err := ka.k.Timers()
	if err != nil {
		t.Fatalf("Timers: %v", err)
	}
	// Every thread's own timer (KTHREAD.Timer), and whether it waits.
	timerOff, err := ka.k.Symbols().Field("_ETHREAD.Tcb.Timer")
	if err != nil {
		t.Fatal(err)
	}
	threadTimers := map[uint64]nt.Thread{}
	procs, err := ka.k.Processes()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		ths, err := ka.k.Threads(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range ths {
			threadTimers[th.ETHREAD+timerOff.Offset] = th
		}
	}
	const waiting = 5 // KTHREAD_STATE Waiting
	foundBalance, sleepers := false, 0
	for _, tm := range timers {
		if tm.Hand >= table.Entries {
			t.Errorf("timer %+v on hand %d of %d", tm, tm.Hand, table.Entries)
		}
		// A timer sits on the hand of the tick it falls due at.
		if due := (tm.DueTime + table.Increment - 1) / table.Increment; due%table.Entries != tm.Hand {
			t.Errorf("timer at %#x due %#x (tick %d) is on hand %d", tm.Address, tm.DueTime, due, tm.Hand)
		}
		if tm.Address == balance.Address {
			foundBalance = true
			if tm.Period != balance.Period || tm.Dpc != balance.Dpc || tm.DeferredRoutine != balance.Routine ||
				tm.DeferredContext != balance.Context || tm.Type != balance.Type || tm.DueTime < balance.DueTime {
				t.Errorf("balance set manager timer: Frost read %+v, the guest reported %+v", tm, balance)
			}
			continue
		}
		th, ok := threadTimers[tm.Address]
		if !ok {
			t.Errorf("armed timer %+v is neither a thread's nor the balance set manager's", tm)
			continue
		}
		if tm.Period != 0 || tm.Dpc != 0 || th.State != waiting {
			t.Errorf("%s: its timer %+v; a sleeping thread's is one-shot without a DPC", th, tm)
		}
		sleepers++
	}
	if !foundBalance {
		t.Errorf("the balance set manager's timer at %#x is not on the table (%d timers)", balance.Address, len(timers))
	}
	// Phase 1's thread sleeps for good, and so does swapper.
	if sleepers < 2 {
		t.Errorf("%d sleeping threads' timers on the table, want at least 2", sleepers)
	}
}

// checkThreadCreateTimes: _ETHREAD.CreateTime is a FILETIME, like the
// process's, taken when the thread is made: not before its process was
// made, not after now. (mini-NT once overwrote it with the tick count.)
func checkThreadCreateTimes(t *testing.T, ka *kernelAt) {
	f, err := ka.k.Symbols().Field("_ETHREAD.CreateTime")
	if err != nil {
		t.Fatal(err)
	}
	now, err := ka.k.SharedUserData()
	if err != nil {
		t.Fatal(err)
	}
	procs, err := ka.k.Processes()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		ths, err := ka.k.Threads(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range ths {
			ct := readU64(t, ka, ka.k.DTB(), th.ETHREAD+f.Offset)
			if ct < p.CreateTime || ct > now.SystemTime {
				t.Errorf("%s: CreateTime %#x, its process was made at %#x and it is now %#x", th, ct, p.CreateTime, now.SystemTime)
			}
		}
	}
}

// checkAuditNames: each user process's SeAuditProcessCreationInfo names
// its image by NT path: the volume's device, then the path the PEB has
// after the drive letter.
func checkAuditNames(t *testing.T, ka *kernelAt) {
	users, err := ka.rep.UserProcesses()
	if err != nil {
		t.Fatal(err)
	}
	sym := ka.k.Symbols()
	audit, err := sym.Field("_EPROCESS.SeAuditProcessCreationInfo.ImageFileName")
	if err != nil {
		t.Fatal(err)
	}
	name, err := sym.Field("_OBJECT_NAME_INFORMATION.Name")
	if err != nil {
		t.Fatal(err)
	}
	length, err := sym.Field("_UNICODE_STRING.Length")
	if err != nil {
		t.Fatal(err)
	}
	buffer, err := sym.Field("_UNICODE_STRING.Buffer")
	if err != nil {
		t.Fatal(err)
	}
	procs, err := ka.k.Processes()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		u, ok := users[p.PID]
		if !ok {
			continue // System
		}
		info := readU64(t, ka, ka.k.DTB(), p.EPROCESS+audit.Offset)
		us := info + name.Offset
		n := readU64(t, ka, ka.k.DTB(), us+length.Offset) & 0xffff
		buf := readU64(t, ka, ka.k.DTB(), us+buffer.Offset)
		raw := make([]byte, n)
		if err := ka.k.Memory().ReadVirtual(ka.k.DTB(), buf, raw); err != nil {
			t.Fatalf("%s: reading its audit name: %v", p, err)
		}
		w := make([]uint16, n/2)
		for i := range w {
			w[i] = binary.LittleEndian.Uint16(raw[2*i:])
		}
		got := string(utf16.Decode(w))
		want := `\Device\HarddiskVolume1` + strings.TrimPrefix(u.Image, "C:")
		if got != want {
			t.Errorf("%s: SeAuditProcessCreationInfo names %q, want %q", p, got, want)
		}
	}
}
