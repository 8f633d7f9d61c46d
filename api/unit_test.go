package api

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/translate"
)

func TestParseSymbolName(t *testing.T) {
	for in, want := range map[string]symbolName{
		"nt!NtWriteFile":      {Module: "nt", Name: "NtWriteFile"},
		"NtWriteFile":         {Name: "NtWriteFile"},
		"nt!NtWriteFile+0x1c": {Module: "nt", Name: "NtWriteFile", Offset: 0x1c},
		" hal!HalpFoo + 16 ":  {Module: "hal", Name: "HalpFoo", Offset: 16},
	} {
		got, err := parseSymbolName(in)
		if err != nil || got != want {
			t.Errorf("parseSymbolName(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "!x", "nt!", "nt!x+zz"} {
		if _, err := parseSymbolName(bad); err == nil {
			t.Errorf("parseSymbolName(%q) accepted", bad)
		}
	}
}

// Pages with the same outcome merge into one piece; a change of outcome
// starts the next.
func TestAppendPieceMerges(t *testing.T) {
	hole := errors.New("hole")
	var ps []*pb.PageStatus
	ps = appendPiece(ps, 0x1000, 0, 0x1000, nil)
	ps = appendPiece(ps, 0x2000, 0x1000, 0x1000, nil)
	ps = appendPiece(ps, 0x3000, 0x2000, 0x1000, hole)
	ps = appendPiece(ps, 0x4000, 0x3000, 0x800, hole)
	if len(ps) != 2 || ps[0].Length != 0x2000 || !ps[0].Served || ps[1].Length != 0x1800 || ps[1].Served {
		t.Errorf("pieces: %v", ps)
	}
}

func TestPiecesOfAVirtualRead(t *testing.T) {
	valid := translate.Location{State: translate.StateValid, Addr: 0x5000}
	pages := []translate.PageRead{
		{VA: 0x10000, Off: 0, Len: 4096, Location: valid},
		{VA: 0x11000, Off: 4096, Len: 4096, Location: valid},
		{VA: 0x12000, Off: 8192, Len: 4096, Location: translate.Location{State: translate.StatePagefile}, Err: translate.ErrPagefileNotSupplied},
	}
	got := pieces(pages, nil)
	if len(got) != 2 || got[0].Length != 8192 || got[1].Location.GetState() != pb.PageState_PAGE_STATE_PAGEFILE || got[1].Served {
		t.Errorf("pieces: %v", got)
	}
	withProv := pieces(pages, func(va uint64) *translate.Provenance { return &translate.Provenance{VA: va} })
	if len(withProv) != 3 || withProv[2].GetProvenance().GetVa() != 0x12000 {
		t.Errorf("pieces with provenance are per page: %v", withProv)
	}
}

func TestHoldIsBounded(t *testing.T) {
	if d := holdFor(&pb.SubscribeRequest{}); d != 0 {
		t.Errorf("no hold: %v", d)
	}
	if d := holdFor(&pb.SubscribeRequest{Hold: true}); d != defaultHold {
		t.Errorf("default hold: %v", d)
	}
	if d := holdFor(&pb.SubscribeRequest{Hold: true, HoldDeadline: durationpb.New(time.Hour)}); d != maxHold {
		t.Errorf("an hour's hold: %v, want the cap %v", d, maxHold)
	}
}
