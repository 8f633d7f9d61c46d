package minint

import (
	"fmt"
	"strconv"
	"strings"
)

// The security tokens and timers the guest reports (issue 15.3): typed
// views of the token, token-sid, timer-table and timer events.

// Token is a process's primary token: the token event and its token-sid
// events.
type Token struct {
	PID     uint64
	Name    string // the process's image file name
	Address uint64 // of the _TOKEN
	// FastRef is _EPROCESS.Token as it stays in memory: Address with a
	// count of cached references in its low 4 bits.
	FastRef          uint64
	TokenID          uint64 // TokenId.LowPart
	AuthenticationID uint64 // AuthenticationId.LowPart: the logon session, 0x3e7 for SYSTEM
	Session          uint64
	Type             uint64 // 1 primary
	IntegrityIndex   uint64 // UserAndGroups index of the mandatory label
	Present          uint64 // _SEP_TOKEN_PRIVILEGES masks
	Enabled          uint64
	EnabledByDefault uint64
	Source           string // "system" or "user32"
	Lock             uint64 // TokenLock: its _ERESOURCE
	// SIDs are UserAndGroups in order: the user first, then the groups.
	SIDs []TokenSID
}

// TokenSID is one token-sid event.
type TokenSID struct {
	SID        string // S-1-5-18
	Attributes uint64
}

// User is the token's user SID.
func (t Token) User() string {
	if len(t.SIDs) == 0 {
		return ""
	}
	return t.SIDs[0].SID
}

// fastRefBits is the count kept in an x64 _EX_FAST_REF's low bits.
const fastRefBits = 0xF

// Tokens returns every token event with its SIDs, by pid, checking what a
// guest bug would make the tests misread: a token's SIDs complete and in
// order, a fast reference that names the token, SIDs that parse.
func (r Report) Tokens() (map[uint64]Token, error) {
	out := map[uint64]Token{}
	for _, e := range r.All("token") {
		var t Token
		var sids uint64
		if err := uints(e, map[string]*uint64{
			"pid": &t.PID, "address": &t.Address, "fast-ref": &t.FastRef, "token-id": &t.TokenID,
			"auth-id": &t.AuthenticationID, "session": &t.Session, "type": &t.Type, "sids": &sids,
			"integrity-index": &t.IntegrityIndex, "present": &t.Present, "enabled": &t.Enabled,
			"default": &t.EnabledByDefault, "lock": &t.Lock,
		}); err != nil {
			return nil, err
		}
		t.Name, t.Source = e.Get("name"), e.Get("source")
		if _, dup := out[t.PID]; dup {
			return nil, fmt.Errorf("minint: two token events for pid %d", t.PID)
		}
		if t.FastRef&^fastRefBits != t.Address || t.Address&fastRefBits != 0 {
			return nil, fmt.Errorf("minint: token fast-ref %#x does not name the token at %#x: %q", t.FastRef, t.Address, e.Line)
		}
		for _, se := range r.All("token-sid") {
			pid, err := se.Uint("pid")
			if err != nil {
				return nil, err
			}
			if pid != t.PID {
				continue
			}
			idx, err := se.Uint("index")
			if err != nil {
				return nil, err
			}
			attr, err := se.Uint("attributes")
			if err != nil {
				return nil, err
			}
			sid := se.Get("sid")
			if err := checkSID(sid); err != nil {
				return nil, fmt.Errorf("%v: %q", err, se.Line)
			}
			if idx != uint64(len(t.SIDs)) {
				return nil, fmt.Errorf("minint: token-sid out of order for pid %d: %q", t.PID, se.Line)
			}
			t.SIDs = append(t.SIDs, TokenSID{SID: sid, Attributes: attr})
		}
		if uint64(len(t.SIDs)) != sids || t.IntegrityIndex >= sids {
			return nil, fmt.Errorf("minint: pid %d: %d token-sid events, want sids=%d (integrity-index %d)",
				t.PID, len(t.SIDs), sids, t.IntegrityIndex)
		}
		out[t.PID] = t
	}
	return out, nil
}

// checkSID accepts S-1-<authority>-<sub>..., 1 to 15 sub-authorities of
// 32 bits, as IsValidSid would.
func checkSID(s string) error {
	parts := strings.Split(s, "-")
	if len(parts) < 4 || len(parts) > 18 || parts[0] != "S" || parts[1] != "1" {
		return fmt.Errorf("minint: not a SID: %q", s)
	}
	for i, p := range parts[2:] {
		bits := 32
		if i == 0 {
			bits = 48
		}
		if _, err := strconv.ParseUint(p, 10, bits); err != nil {
			return fmt.Errorf("minint: not a SID: %q", s)
		}
	}
	return nil
}

// TimerTable is the timer-table event: KiTimerTableListHead.
type TimerTable struct {
	Address   uint64
	Entries   uint64
	Increment uint64 // KeTimeIncrement, 100 ns units per clock tick
}

// TimerTable returns the timer-table event.
func (r Report) TimerTable() (TimerTable, error) {
	var t TimerTable
	e, err := r.only("timer-table")
	if err != nil {
		return t, err
	}
	return t, uints(e, map[string]*uint64{"address": &t.Address, "entries": &t.Entries, "increment": &t.Increment})
}

// Timer is a timer event: a _KTIMER the kernel armed for good.
type Timer struct {
	Name    string
	Address uint64
	DueTime uint64 // the first due time, interrupt time in 100 ns units
	Period  uint64 // ms
	Dpc     uint64 // its _KDPC
	Routine uint64 // the DPC's DeferredRoutine
	Context uint64 // DeferredContext
	Type    uint64 // _DISPATCHER_HEADER.Type: 8 notification, 9 synchronization
}

// Timers returns the timer events by name.
func (r Report) Timers() (map[string]Timer, error) {
	out := map[string]Timer{}
	for _, e := range r.All("timer") {
		t := Timer{Name: e.Get("name")}
		if err := uints(e, map[string]*uint64{
			"address": &t.Address, "due-time": &t.DueTime, "period": &t.Period, "dpc": &t.Dpc,
			"routine": &t.Routine, "context": &t.Context, "type": &t.Type,
		}); err != nil {
			return nil, err
		}
		if t.Type != 8 && t.Type != 9 {
			return nil, fmt.Errorf("minint: timer type %d is not a timer's: %q", t.Type, e.Line)
		}
		if _, dup := out[t.Name]; dup || t.Name == "" {
			return nil, fmt.Errorf("minint: timer name %q empty or twice: %q", t.Name, e.Line)
		}
		out[t.Name] = t
	}
	return out, nil
}
