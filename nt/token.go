package nt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Token is a process's primary access token (_TOKEN), read through the
// PDB: who the process runs as and what it may do.
type Token struct {
	Address uint64 // kernel VA of the _TOKEN
	// TokenID and AuthenticationID are LUIDs (HighPart<<32 | LowPart);
	// AuthenticationID names the logon session (0x3e7: SYSTEM's).
	TokenID, AuthenticationID uint64
	SessionID                 uint64
	Type                      uint64 // TOKEN_TYPE: 1 primary, 2 impersonation
	// User is UserAndGroups[0]; Groups the rest, in order.
	User   SIDAndAttributes
	Groups []SIDAndAttributes
	// IntegrityLevel is the mandatory label's SID (S-1-16-...), "" when
	// the build has no IntegrityLevelIndex or the index is out of range.
	IntegrityLevel string
	Privileges     Privileges
}

// SIDAndAttributes is one _SID_AND_ATTRIBUTES: a SID in its string form
// (S-1-5-18) and its SE_GROUP_* attributes.
type SIDAndAttributes struct {
	SID        string
	Attributes uint64
}

// Privileges are _SEP_TOKEN_PRIVILEGES: bit n of each mask is the
// privilege whose LUID is n (see PrivilegeName).
type Privileges struct {
	Present, Enabled, EnabledByDefault uint64
}

// Bounds on what a token may claim; Windows' own limits are far below.
const (
	maxTokenSIDs       = 1024 // UserAndGroupCount
	maxSubAuthorities  = 15   // SID_MAX_SUB_AUTHORITIES
	sidRevision        = 1
	sidAuthorityLength = 6
)

// ErrNoToken: the process's _EPROCESS.Token names no token (a null
// pointer: a process being created or torn down).
var ErrNoToken = errors.New("nt: the process has no token")

// Token reads p's primary token: _EPROCESS.Token is an _EX_FAST_REF, a
// pointer whose low bits (as many as _EX_FAST_REF.RefCnt has) count
// cached references.
func (k *Kernel) Token(p Process) (Token, error) {
	f, err := k.lay.field("_EPROCESS.Token")
	if err != nil {
		return Token{}, err
	}
	ref, err := k.readU64("_EPROCESS.Token", k.dtb, p.EPROCESS+f.Offset)
	if err != nil {
		return Token{}, err
	}
	addr, err := k.fastRefObject(ref)
	if err != nil {
		return Token{}, err
	}
	if addr == 0 {
		return Token{}, fmt.Errorf("%w (pid %d)", ErrNoToken, p.PID)
	}
	return k.TokenAt(addr)
}

// TokenAt reads the _TOKEN at addr.
func (k *Kernel) TokenAt(addr uint64) (Token, error) {
	t := Token{Address: addr}
	o, err := k.readObject("_TOKEN", k.dtb, addr)
	if err != nil {
		return t, err
	}
	luid := func(path string) (uint64, error) {
		lo, err := o.uint(path + ".LowPart")
		if err != nil {
			return 0, err
		}
		hi, err := o.uint(path + ".HighPart")
		return hi<<32 | lo, err
	}
	if t.TokenID, err = luid("TokenId"); err != nil {
		return t, err
	}
	if t.AuthenticationID, err = luid("AuthenticationId"); err != nil {
		return t, err
	}
	for _, f := range []struct {
		path string
		dst  *uint64
	}{
		{"SessionId", &t.SessionID}, {"TokenType", &t.Type},
		{"Privileges.Present", &t.Privileges.Present}, {"Privileges.Enabled", &t.Privileges.Enabled},
		{"Privileges.EnabledByDefault", &t.Privileges.EnabledByDefault},
	} {
		if *f.dst, err = o.uint(f.path); err != nil {
			return t, err
		}
	}
	count, err := o.uint("UserAndGroupCount")
	if err != nil {
		return t, err
	}
	if count == 0 || count > maxTokenSIDs {
		return t, &WalkError{What: "_TOKEN.UserAndGroups", At: addr, Err: ErrCorrupt, Msg: fmt.Sprintf("UserAndGroupCount %d", count)}
	}
	array, err := o.uint("UserAndGroups")
	if err != nil {
		return t, err
	}
	sids, err := k.sidsAndAttributes(array, count)
	if err != nil {
		return t, err
	}
	t.User, t.Groups = sids[0], sids[1:]
	if k.lay.has("_TOKEN.IntegrityLevelIndex") {
		i, err := o.uint("IntegrityLevelIndex")
		if err != nil {
			return t, err
		}
		if i < count {
			t.IntegrityLevel = sids[i].SID
		}
	}
	return t, nil
}

// sidsAndAttributes reads count _SID_AND_ATTRIBUTES at array.
func (k *Kernel) sidsAndAttributes(array, count uint64) ([]SIDAndAttributes, error) {
	size, err := k.lay.size("_SID_AND_ATTRIBUTES")
	if err != nil {
		return nil, err
	}
	out := make([]SIDAndAttributes, 0, count)
	for i := uint64(0); i < count; i++ {
		o, err := k.readObject("_SID_AND_ATTRIBUTES", k.dtb, array+i*size)
		if err != nil {
			return out, err
		}
		sid, err := o.uint("Sid")
		if err != nil {
			return out, err
		}
		attr, err := o.uint("Attributes")
		if err != nil {
			return out, err
		}
		s, err := k.SIDAt(sid)
		if err != nil {
			return out, fmt.Errorf("nt: _TOKEN.UserAndGroups[%d]: %w", i, err)
		}
		out = append(out, SIDAndAttributes{SID: s, Attributes: attr})
	}
	return out, nil
}

// SIDAt reads the _SID at addr and returns its string form, refusing what
// IsValidSid would (a revision other than 1, more than 15
// sub-authorities).
func (k *Kernel) SIDAt(addr uint64) (string, error) {
	if addr == 0 || !canonical(addr) {
		return "", &WalkError{What: "_SID", At: addr, Err: ErrCorrupt, Msg: "not a canonical address"}
	}
	o, err := k.readObject("_SID", k.dtb, addr)
	if err != nil {
		return "", err
	}
	rev, err := o.uint("Revision")
	if err != nil {
		return "", err
	}
	n, err := o.uint("SubAuthorityCount")
	if err != nil {
		return "", err
	}
	if rev != sidRevision || n > maxSubAuthorities {
		return "", &WalkError{What: "_SID", At: addr, Err: ErrCorrupt, Msg: fmt.Sprintf("revision %d with %d sub-authorities", rev, n)}
	}
	auth, err := k.lay.field("_SID.IdentifierAuthority")
	if err != nil {
		return "", err
	}
	sub, err := k.lay.field("_SID.SubAuthority")
	if err != nil {
		return "", err
	}
	// SubAuthority is declared ULONG[1] (ANYSIZE_ARRAY): its size is one
	// element's.
	if auth.Size != sidAuthorityLength || sub.Size != 4 {
		return "", &SymbolError{Need: "_SID", Err: fmt.Errorf("IdentifierAuthority of %d bytes, SubAuthority elements of %d", auth.Size, sub.Size)}
	}
	a, err := o.bytes("IdentifierAuthority")
	if err != nil {
		return "", err
	}
	subs := make([]byte, 4*n)
	if err := k.read("_SID.SubAuthority", k.dtb, addr+sub.Offset, subs); err != nil {
		return "", err
	}
	var authority uint64
	for _, b := range a {
		authority = authority<<8 | uint64(b) // big-endian
	}
	var sb strings.Builder
	sb.WriteString("S-1-")
	// ConvertSidToStringSid writes an authority of 2^32 or more in hex.
	if authority >= 1<<32 {
		fmt.Fprintf(&sb, "0x%012X", authority)
	} else {
		sb.WriteString(strconv.FormatUint(authority, 10))
	}
	for i := uint64(0); i < n; i++ {
		sb.WriteByte('-')
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32(subs[4*i:])), 10))
	}
	return sb.String(), nil
}

// privilegeNames are winnt.h's privilege constants by LUID (2 to 36).
var privilegeNames = []string{
	2: "SeCreateTokenPrivilege", 3: "SeAssignPrimaryTokenPrivilege", 4: "SeLockMemoryPrivilege",
	5: "SeIncreaseQuotaPrivilege", 6: "SeMachineAccountPrivilege", 7: "SeTcbPrivilege", 8: "SeSecurityPrivilege",
	9: "SeTakeOwnershipPrivilege", 10: "SeLoadDriverPrivilege", 11: "SeSystemProfilePrivilege",
	12: "SeSystemtimePrivilege", 13: "SeProfileSingleProcessPrivilege", 14: "SeIncreaseBasePriorityPrivilege",
	15: "SeCreatePagefilePrivilege", 16: "SeCreatePermanentPrivilege", 17: "SeBackupPrivilege",
	18: "SeRestorePrivilege", 19: "SeShutdownPrivilege", 20: "SeDebugPrivilege", 21: "SeAuditPrivilege",
	22: "SeSystemEnvironmentPrivilege", 23: "SeChangeNotifyPrivilege", 24: "SeRemoteShutdownPrivilege",
	25: "SeUndockPrivilege", 26: "SeSyncAgentPrivilege", 27: "SeEnableDelegationPrivilege",
	28: "SeManageVolumePrivilege", 29: "SeImpersonatePrivilege", 30: "SeCreateGlobalPrivilege",
	31: "SeTrustedCredManAccessPrivilege", 32: "SeRelabelPrivilege", 33: "SeIncreaseWorkingSetPrivilege",
	34: "SeTimeZonePrivilege", 35: "SeCreateSymbolicLinkPrivilege",
	36: "SeDelegateSessionUserImpersonatePrivilege",
}

// PrivilegeName names the privilege whose LUID is luid (bit luid of the
// Privileges masks), or returns "" for a LUID Windows does not define.
func PrivilegeName(luid int) string {
	if luid < 0 || luid >= len(privilegeNames) {
		return ""
	}
	return privilegeNames[luid]
}

// Names lists the privileges set in mask, lowest LUID first; a bit no
// privilege owns is named by its number.
func (p Privileges) Names(mask uint64) []string {
	var out []string
	for i := 0; i < 64; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		if n := PrivilegeName(i); n != "" {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("privilege %d", i))
		}
	}
	return out
}
