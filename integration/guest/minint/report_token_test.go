package minint

import (
	"strings"
	"testing"
)

// Lines as the guest printed them on a seed=7 boot (System's token and
// writer's, the timer table and the balance set manager's timer).
const tokenReport = `frost-guest: token pid=4 name=System address=0xffffa000200014b0 fast-ref=0xffffa000200014bf token-id=0x4ec auth-id=0x3e7 session=0 type=1 sids=5 integrity-index=4 present=0x1ff2ffffbc enabled=0x1e60b1e890 default=0x1e60b1e890 source=system lock=0xffffa00000006870
frost-guest: token-sid pid=4 index=0 sid=S-1-5-18 attributes=0x0
frost-guest: token-sid pid=4 index=1 sid=S-1-5-32-544 attributes=0xe
frost-guest: token-sid pid=4 index=2 sid=S-1-1-0 attributes=0x7
frost-guest: token-sid pid=4 index=3 sid=S-1-5-11 attributes=0x7
frost-guest: token-sid pid=4 index=4 sid=S-1-16-16384 attributes=0x60
frost-guest: timer-table address=0xfffff8017c218e90 entries=256 increment=100000
frost-guest: timer name=KiBalanceSetManagerTimer address=0xfffff8017c21aee8 due-time=0x1e8480 period=200 dpc=0xfffff8017c21aea8 routine=0xfffff8017c20c340 context=0xfffff8017c21ae90 type=9
frost-guest: token pid=88 name=writer.exe address=0xffffa00020002440 fast-ref=0xffffa0002000244f token-id=0x4f3 auth-id=0x1e3c5 session=1 type=1 sids=11 integrity-index=10 present=0x602880000 enabled=0x800000 default=0x800000 source=user32 lock=0xffffa0000004a1f0
frost-guest: token-sid pid=88 index=0 sid=S-1-5-21-2847106352-1153285917-3971055486-1001 attributes=0x0
frost-guest: token-sid pid=88 index=1 sid=S-1-5-21-2847106352-1153285917-3971055486-513 attributes=0x7
frost-guest: token-sid pid=88 index=2 sid=S-1-1-0 attributes=0x7
frost-guest: token-sid pid=88 index=3 sid=S-1-5-32-545 attributes=0x7
frost-guest: token-sid pid=88 index=4 sid=S-1-5-4 attributes=0x7
frost-guest: token-sid pid=88 index=5 sid=S-1-2-1 attributes=0x7
frost-guest: token-sid pid=88 index=6 sid=S-1-5-11 attributes=0x7
frost-guest: token-sid pid=88 index=7 sid=S-1-5-15 attributes=0x7
frost-guest: token-sid pid=88 index=8 sid=S-1-5-5-0-123845 attributes=0xc0000007
frost-guest: token-sid pid=88 index=9 sid=S-1-2-0 attributes=0x7
frost-guest: token-sid pid=88 index=10 sid=S-1-16-8192 attributes=0x60
`

func TestReportTokens(t *testing.T) {
	rep, err := ParseReport(strings.NewReader(tokenReport))
	if err != nil {
		t.Fatal(err)
	}
	toks, err := rep.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 2 {
		t.Fatalf("Tokens: %d, want 2", len(toks))
	}
	sys, w := toks[4], toks[88]
	if sys.User() != "S-1-5-18" || sys.AuthenticationID != 0x3e7 || sys.Present != 0x1ff2ffffbc || len(sys.SIDs) != 5 ||
		sys.SIDs[sys.IntegrityIndex].SID != "S-1-16-16384" || sys.FastRef&^0xF != sys.Address || sys.Source != "system" {
		t.Errorf("System token = %+v", sys)
	}
	if w.Name != "writer.exe" || w.User() != "S-1-5-21-2847106352-1153285917-3971055486-1001" || w.Session != 1 ||
		w.Enabled != 0x800000 || w.SIDs[8].Attributes != 0xc0000007 || w.SIDs[w.IntegrityIndex].SID != "S-1-16-8192" {
		t.Errorf("writer token = %+v", w)
	}
	tt, err := rep.TimerTable()
	if err != nil || tt.Entries != 256 || tt.Increment != 100000 {
		t.Errorf("TimerTable = %+v, %v", tt, err)
	}
	timers, err := rep.Timers()
	if err != nil {
		t.Fatal(err)
	}
	b, ok := timers["KiBalanceSetManagerTimer"]
	if !ok || b.Period != 200 || b.Type != 9 || b.Dpc == 0 || b.Routine == 0 {
		t.Errorf("Timers = %+v", timers)
	}
}

func TestReportTokensRejects(t *testing.T) {
	for name, c := range map[string]struct{ from, to string }{
		"fast-ref naming another token": {"fast-ref=0xffffa000200014bf", "fast-ref=0xffffa000200015bf"},
		"a SID missing":                 {"frost-guest: token-sid pid=4 index=2 ", "frost-guest: other pid=4 index=2 "},
		"SIDs out of order":             {"pid=4 index=1 ", "pid=4 index=7 "},
		"not a SID":                     {"sid=S-1-5-18 ", "sid=S-1-x-18 "},
		"two tokens for one pid":        {"token pid=88 ", "token pid=4 "},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(tokenReport, c.from) {
				t.Fatalf("the sample has no %q", c.from)
			}
			rep, err := ParseReport(strings.NewReader(strings.Replace(tokenReport, c.from, c.to, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rep.Tokens(); err == nil {
				t.Error("accepted")
			}
		})
	}
	rep, err := ParseReport(strings.NewReader(strings.Replace(tokenReport, "type=9", "type=3", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rep.Timers(); err == nil {
		t.Error("a timer event with a non-timer type was accepted")
	}
}
