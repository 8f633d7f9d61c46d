package api

import (
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/translate"
)

// Mapping of translate's answers onto the wire: one place, so every call
// names states and steps the same way.

func pageState(s translate.State) pb.PageState {
	switch s {
	case translate.StateValid:
		return pb.PageState_PAGE_STATE_VALID
	case translate.StateTransition:
		return pb.PageState_PAGE_STATE_TRANSITION
	case translate.StatePagefile:
		return pb.PageState_PAGE_STATE_PAGEFILE
	case translate.StateCompressed:
		return pb.PageState_PAGE_STATE_COMPRESSED
	case translate.StateDemandZero:
		return pb.PageState_PAGE_STATE_DEMAND_ZERO
	case translate.StateDecommitted:
		return pb.PageState_PAGE_STATE_DECOMMITTED
	case translate.StateReserved:
		return pb.PageState_PAGE_STATE_RESERVED
	case translate.StateNotMapped:
		return pb.PageState_PAGE_STATE_NOT_MAPPED
	case translate.StateFile:
		return pb.PageState_PAGE_STATE_FILE
	}
	return pb.PageState_PAGE_STATE_TRANSLATION_FAILED
}

func locationPB(l translate.Location) *pb.Location {
	out := &pb.Location{
		State: pageState(l.State), Address: l.Addr, Pagefile: uint32(l.Pagefile), PageSize: l.PageSize,
		Protection: l.Protection, PrototypePte: l.PrototypePTE,
	}
	if l.Protection != 0 {
		out.ProtectionName = translate.ProtectionString(l.Protection)
	}
	if l.File != nil {
		out.FileName = l.File.Name
	}
	return out
}

func provenancePB(p *translate.Provenance) *pb.Provenance {
	out := &pb.Provenance{Va: p.VA, Dtb: p.DTB, Location: locationPB(p.Location), Smear: p.Smear, Text: p.String(), Model: pb.TranslationModel_TRANSLATION_MODEL_WINDOWS}
	if p.Model == translate.ModelX86 {
		out.Model = pb.TranslationModel_TRANSLATION_MODEL_X86_64
	}
	if p.Err != nil {
		out.Error = p.Err.Error()
	}
	for _, s := range p.Steps {
		out.Steps = append(out.Steps, &pb.TranslationStep{
			Depth: uint32(s.Depth), Level: pb.TranslationLevel(int32(s.Level) + 1), Va: s.VA,
			Space: pb.EntrySpace(int32(s.At.Space) + 1), Address: s.At.Addr, Pagefile: uint32(s.At.Pagefile),
			Raw: s.Raw, Value: s.Value, Cleared: s.Cleared, SwizzleKept: s.SwizzleKept,
			Kind: kindName(s.Kind), Fields: s.Fields, Next: s.Next, Note: s.Note,
		})
	}
	return out
}

func kindName(k translate.Kind) string {
	if k == 0 {
		return ""
	}
	return k.String()
}

// pieces turns a virtual read's per-page outcomes into PageStatus pieces,
// merging neighbours with the same outcome unless each page's provenance
// is wanted.
func pieces(pages []translate.PageRead, vtop func(va uint64) *translate.Provenance) []*pb.PageStatus {
	var out []*pb.PageStatus
	for _, pr := range pages {
		st := &pb.PageStatus{Address: pr.VA, Offset: uint64(pr.Off), Length: uint64(pr.Len), Served: pr.Err == nil, Location: locationPB(pr.Location)}
		if pr.Err != nil {
			st.Reason = pr.Err.Error()
			if pr.Location.State == translate.StateUnknown {
				st.Location.State = pb.PageState_PAGE_STATE_TRANSLATION_FAILED
			}
		}
		if vtop != nil {
			st.Provenance = provenancePB(vtop(pr.VA))
			out = append(out, st)
			continue
		}
		if k := len(out); k > 0 {
			last := out[k-1]
			if last.Served == st.Served && last.Location.GetState() == st.Location.GetState() &&
				last.Reason == st.Reason && last.Offset+last.Length == st.Offset {
				last.Length += st.Length
				continue
			}
		}
		out = append(out, st)
	}
	return out
}
