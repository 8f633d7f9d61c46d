package nt

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// sid writes a _SID (revision 1) with authority auth and subs, laid out by
// the table, and returns its address.
func (g *guest) sid(auth uint64, subs ...uint32) uint64 {
	g.t.Helper()
	sub := g.addr("_SID", 0, "SubAuthority")
	va := g.allocBytes(sub + 4*uint64(len(subs)))
	g.set("_SID", va, "Revision", 1)
	g.set("_SID", va, "SubAuthorityCount", uint64(len(subs)))
	a := make([]byte, 6)
	for i := 0; i < 6; i++ {
		a[5-i] = byte(auth >> (8 * i))
	}
	g.mem.write(g.addr("_SID", va, "IdentifierAuthority"), a)
	b := make([]byte, 4*len(subs))
	for i, s := range subs {
		binary.LittleEndian.PutUint32(b[4*i:], s)
	}
	g.mem.write(va+sub, b)
	return va
}

// token makes a _TOKEN whose UserAndGroups holds sids (with attrs), and
// points ep's Token fast reference at it with refs cached references.
func (g *guest) token(ep uint64, refs uint64, sids []uint64, attrs []uint64) uint64 {
	g.t.Helper()
	tok := g.alloc("_TOKEN")
	if tok&0xf != 0 {
		g.t.Fatalf("token at %#x is not 16-byte aligned", tok)
	}
	size := g.size("_SID_AND_ATTRIBUTES")
	arr := g.allocBytes(size * uint64(len(sids)))
	for i, s := range sids {
		g.set("_SID_AND_ATTRIBUTES", arr+uint64(i)*size, "Sid", s)
		g.set("_SID_AND_ATTRIBUTES", arr+uint64(i)*size, "Attributes", attrs[i])
	}
	g.set("_TOKEN", tok, "UserAndGroups", arr)
	g.set("_TOKEN", tok, "UserAndGroupCount", uint64(len(sids)))
	g.set("_EPROCESS", ep, "Token", tok|refs)
	return tok
}

// TestRealISFToken: a token on Windows 10's layout, reached through the
// process's _EX_FAST_REF with cached references in its low bits.
func TestRealISFToken(t *testing.T) {
	g := newRealGuest(t)
	ep := g.process(0x1a4, 4, 0x1ad000, "writer.exe")
	sids := []uint64{
		g.sid(5, 21, 2847106352, 1153285917, 3971055486, 1001),
		g.sid(1, 0),
		g.sid(5, 5, 0, 0x1e3c5),
		g.sid(16, 0x2000),
		g.sid(0x112233445566, 7), // an authority of 2^32 or more is written in hex
	}
	tok := g.token(ep, 0xb, sids, []uint64{0, 7, 0xc0000007, 0x60, 7})
	g.set("_TOKEN", tok, "TokenId.LowPart", 0x4f3)
	g.set("_TOKEN", tok, "AuthenticationId.LowPart", 0x1e3c5)
	g.set("_TOKEN", tok, "AuthenticationId.HighPart", 1)
	g.set("_TOKEN", tok, "SessionId", 1)
	g.set("_TOKEN", tok, "TokenType", 1)
	g.set("_TOKEN", tok, "IntegrityLevelIndex", 3)
	g.set("_TOKEN", tok, "Privileges.Present", 0x602880000)
	g.set("_TOKEN", tok, "Privileges.Enabled", 0x800000)
	g.set("_TOKEN", tok, "Privileges.EnabledByDefault", 0x800000)

	k := g.kernel()
	p, err := k.ProcessByPID(0x1a4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Token(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Address != tok || got.TokenID != 0x4f3 || got.AuthenticationID != 1<<32|0x1e3c5 || got.SessionID != 1 || got.Type != 1 {
		t.Errorf("Token = %+v", got)
	}
	if got.User != (SIDAndAttributes{"S-1-5-21-2847106352-1153285917-3971055486-1001", 0}) {
		t.Errorf("User = %+v", got.User)
	}
	wantGroups := []SIDAndAttributes{{"S-1-1-0", 7}, {"S-1-5-5-0-123845", 0xc0000007}, {"S-1-16-8192", 0x60}, {"S-1-0x112233445566-7", 7}}
	if !slices.Equal(got.Groups, wantGroups) {
		t.Errorf("Groups = %+v, want %+v", got.Groups, wantGroups)
	}
	if got.IntegrityLevel != "S-1-16-8192" {
		t.Errorf("IntegrityLevel = %q", got.IntegrityLevel)
	}
	if got.Privileges != (Privileges{0x602880000, 0x800000, 0x800000}) {
		t.Errorf("Privileges = %+v", got.Privileges)
	}
	names := got.Privileges.Names(got.Privileges.Present)
	want := []string{"SeShutdownPrivilege", "SeChangeNotifyPrivilege", "SeUndockPrivilege", "SeIncreaseWorkingSetPrivilege", "SeTimeZonePrivilege"}
	if !slices.Equal(names, want) {
		t.Errorf("Names(Present) = %v", names)
	}
}

// TestRealISFTokenRejects: what no kernel writes is an error, not a
// garbled SID.
func TestRealISFTokenRejects(t *testing.T) {
	for name, c := range map[string]struct {
		mangle func(g *guest, ep, tok, sid uint64)
		want   error
	}{
		"no token":           {func(g *guest, ep, tok, sid uint64) { g.set("_EPROCESS", ep, "Token", 0xf) }, ErrNoToken},
		"no SIDs":            {func(g *guest, ep, tok, sid uint64) { g.set("_TOKEN", tok, "UserAndGroupCount", 0) }, ErrCorrupt},
		"a million SIDs":     {func(g *guest, ep, tok, sid uint64) { g.set("_TOKEN", tok, "UserAndGroupCount", 1e6) }, ErrCorrupt},
		"SID revision 2":     {func(g *guest, ep, tok, sid uint64) { g.set("_SID", sid, "Revision", 2) }, ErrCorrupt},
		"16 sub-authorities": {func(g *guest, ep, tok, sid uint64) { g.set("_SID", sid, "SubAuthorityCount", 16) }, ErrCorrupt},
		"a null SID pointer": {func(g *guest, ep, tok, sid uint64) {
			g.set("_SID_AND_ATTRIBUTES", g.u64(g.addr("_TOKEN", tok, "UserAndGroups")), "Sid", 0)
		}, ErrCorrupt},
		"an unmapped SID": {func(g *guest, ep, tok, sid uint64) {
			g.set("_SID_AND_ATTRIBUTES", g.u64(g.addr("_TOKEN", tok, "UserAndGroups")), "Sid", 0xffffa7ff00000000)
		}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			g := newRealGuest(t)
			ep := g.process(8, 4, 0x1ad000, "smss.exe")
			sid := g.sid(5, 18)
			tok := g.token(ep, 0xf, []uint64{sid}, []uint64{0})
			c.mangle(g, ep, tok, sid)
			k := g.kernel()
			p, err := k.ProcessByPID(8)
			if err != nil {
				t.Fatal(err)
			}
			tk, err := k.Token(p)
			if err == nil {
				t.Fatalf("accepted: %+v", tk)
			}
			var re *ReadError
			if c.want == nil && !errors.As(err, &re) {
				t.Errorf("err = %v, want a ReadError", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
}
