package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/translate"
)

// space resolves a request's address space to a DTB and the translator
// that walks it. A DTB needs no Windows kernel: without one, the walk is
// the processor's (translate.ModelX86). A pid or the kernel's space does.
func (s *memoryService) space(ctx context.Context, name string, sp *pb.AddressSpace) (*session.Session, *translate.Translator, uint64, error) {
	vm, err := s.c.get(name)
	if err != nil {
		return nil, nil, 0, err
	}
	if sp.GetSpace() == nil {
		return nil, nil, 0, invalid("space", "name a pid, a DTB or the kernel")
	}
	if v, ok := sp.GetSpace().(*pb.AddressSpace_Dtb); ok {
		tr, err := vm.Translator(ctx)
		if err != nil {
			return nil, nil, 0, kernelError(vm.Name, err)
		}
		return vm, tr, v.Dtb, nil
	}
	k, err := s.c.kernel(ctx, vm)
	if err != nil {
		return nil, nil, 0, err
	}
	if v, ok := sp.GetSpace().(*pb.AddressSpace_Pid); ok {
		p, err := k.ProcessByPID(uint64(v.Pid))
		if err != nil {
			return nil, nil, 0, kernelError(vm.Name, err)
		}
		return vm, k.Translator, p.DTB, nil
	}
	return vm, k.Translator, k.DTB(), nil
}

// modelPB names the model a translator reads entries by.
func modelPB(tr *translate.Translator) pb.TranslationModel {
	if tr.Model() == translate.ModelX86 {
		return pb.TranslationModel_TRANSLATION_MODEL_X86_64
	}
	return pb.TranslationModel_TRANSLATION_MODEL_WINDOWS
}

func (s *memoryService) ReadVirtual(ctx context.Context, req *pb.ReadVirtualRequest) (*pb.ReadVirtualResponse, error) {
	if err := checkRange(req.GetAddress(), req.GetLength()); err != nil {
		return nil, err
	}
	if req.GetLength() > maxUnaryRead {
		return nil, tooLarge("length", maxUnaryRead, "; use StreamVirtual")
	}
	vm, tr, dtb, err := s.space(ctx, req.GetVm(), req.GetSpace())
	if err != nil {
		return nil, err
	}
	buf := make([]byte, req.GetLength())
	res := tr.ReadVirtual(dtb, req.GetAddress(), buf)
	var vtop func(uint64) *translate.Provenance
	if req.GetProvenance() {
		vtop = func(va uint64) *translate.Provenance { return tr.Vtop(dtb, va) }
	}
	pages := pieces(res.Pages(), vtop)
	if err := servedAny(vm.Name, "ReadVirtual", pages); err != nil {
		return nil, err
	}
	return &pb.ReadVirtualResponse{Data: buf, Pages: pages, Dtb: dtb, Smear: res.Smear, Model: modelPB(tr)}, nil
}

func (s *memoryService) StreamVirtual(req *pb.StreamVirtualRequest, stream pb.MemoryService_StreamVirtualServer) error {
	if err := checkRange(req.GetAddress(), req.GetLength()); err != nil {
		return err
	}
	chunk, err := chunkSize(req.GetChunkSize())
	if err != nil {
		return err
	}
	vm, tr, dtb, err := s.space(stream.Context(), req.GetVm(), req.GetSpace())
	if err != nil {
		return err
	}
	release, err := s.c.admitStream(stream.Context(), "StreamVirtual", chunk)
	if err != nil {
		return err
	}
	defer release()
	buf := make([]byte, chunk)
	served := false
	for done := uint64(0); done < req.GetLength(); {
		if err := stream.Context().Err(); err != nil {
			return err
		}
		n := min(uint64(chunk), req.GetLength()-done)
		at := req.GetAddress() + done
		res := tr.ReadVirtual(dtb, at, buf[:n])
		pages := pieces(res.Pages(), nil)
		served = served || res.N > 0
		if err := stream.Send(&pb.StreamVirtualResponse{Address: at, Data: buf[:n], Pages: pages, Smear: res.Smear, Model: modelPB(tr)}); err != nil {
			return err
		}
		done += n
	}
	if !served {
		return servedAny(vm.Name, "StreamVirtual", nil)
	}
	return nil
}

func (s *memoryService) Translate(ctx context.Context, req *pb.TranslateRequest) (*pb.TranslateResponse, error) {
	_, tr, dtb, err := s.space(ctx, req.GetVm(), req.GetSpace())
	if err != nil {
		return nil, err
	}
	return &pb.TranslateResponse{Provenance: provenancePB(tr.Vtop(dtb, req.GetAddress()))}, nil
}

// VadMap maps [start, end); end 0 stands for 2^64, so the top page of
// the address space can be asked for, and a run that ends there has end 0
// too.
func (s *memoryService) VadMap(ctx context.Context, req *pb.VadMapRequest) (*pb.VadMapResponse, error) {
	if end := req.GetEnd(); end != 0 && end <= req.GetStart() {
		return nil, invalid("end", "must be above start (or 0 for the top of the address space, 2^64)")
	}
	if _, err := translate.VadMapPages(req.GetStart(), req.GetEnd()); err != nil {
		return nil, tooLarge("end", translate.MaxVadMapPages*pageSize, " of address space per call")
	}
	_, tr, dtb, err := s.space(ctx, req.GetVm(), req.GetSpace())
	if err != nil {
		return nil, err
	}
	runs, err := tr.VadMapContext(ctx, dtb, req.GetStart(), req.GetEnd())
	if err != nil {
		if ctx.Err() != nil {
			// The caller went, or its deadline passed: the walk stopped.
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, invalid("start", "%v", err)
	}
	resp := &pb.VadMapResponse{Dtb: dtb, Model: modelPB(tr)}
	for _, r := range runs {
		out := &pb.VadRun{Start: r.Start, End: r.End, Location: locationPB(r.Location)}
		if r.Err != nil {
			out.Error = r.Err.Error()
		}
		resp.Runs = append(resp.Runs, out)
	}
	return resp, nil
}

// WriteVirtual writes only to pages in RAM (valid or transition): their
// physical address is known and QEMU's write reaches them. Pages anywhere
// else are reported and left alone; Windows' own state machine owns them.
func (s *memoryService) WriteVirtual(ctx context.Context, req *pb.WriteVirtualRequest) (*pb.WriteVirtualResponse, error) {
	if !s.c.AllowWrite {
		return nil, writesDisabled("WriteVirtual")
	}
	if err := checkRange(req.GetAddress(), uint64(len(req.GetData()))); err != nil {
		return nil, err
	}
	if len(req.GetData()) > maxWrite {
		return nil, tooLarge("data", maxWrite, "")
	}
	vm, tr, dtb, err := s.space(ctx, req.GetVm(), req.GetSpace())
	if err != nil {
		return nil, err
	}
	pages, err := vm.WriteVirtual(ctx, tr, dtb, req.GetAddress(), req.GetData())
	if err != nil {
		return nil, targetError(vm.Name, "writing memory of", err)
	}
	resp := &pb.WriteVirtualResponse{Model: modelPB(tr)}
	wrote := false
	for _, p := range pages {
		st := &pb.PageStatus{Address: p.VA, Offset: uint64(p.Offset), Length: uint64(p.Len), Location: locationPB(p.Loc), Served: p.Written}
		switch {
		case p.Err != nil:
			st.Reason = p.Err.Error()
			st.Location.State = pb.PageState_PAGE_STATE_TRANSLATION_FAILED
		case !p.Written:
			st.Reason = session.ErrNotInRAM.Error()
		}
		wrote = wrote || p.Written
		resp.Pages = append(resp.Pages, st)
	}
	if wrote {
		return resp, nil
	}
	return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_NOTHING_READABLE,
		"WriteVirtual of "+vm.Name+" wrote nothing: no page of the range is in RAM", "vm", vm.Name)
}
