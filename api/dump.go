package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/frostvmi/frost/minidump"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/symbols"
)

type dumpService struct {
	pb.UnimplementedDumpServiceServer
	c *Config
}

// dumpChunk is the most file bytes one stream message carries: well
// under gRPC's default 4 MiB message limit.
const dumpChunk = 1 << 20

func (s *dumpService) DumpProcess(req *pb.DumpProcessRequest, stream pb.DumpService_DumpProcessServer) (err error) {
	ctx := stream.Context()
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return err
	}
	if req.GetPid() == 0 {
		return invalid("pid", "name the process to dump (0 is the idle process, which has no user memory)")
	}
	release, err := s.c.admitStream(ctx, "DumpProcess", dumpChunk)
	if err != nil {
		return err
	}
	defer release()
	d, err := vm.PlanProcessDump(ctx, uint64(req.GetPid()), req.GetLive())
	if err != nil {
		return dumpError(vm.Name, err)
	}
	// From here the guest may be paused: whatever ends the call (the
	// dump's end, an error, the client leaving), it is let go.
	defer func() {
		if rerr := d.Close(context.WithoutCancel(ctx)); rerr != nil {
			s.c.Log.Error("releasing the guest after a process dump", "vm", vm.Name, "pid", req.GetPid(), "error", rerr)
			err = errors.Join(err, targetError(vm.Name, "releasing the guest after the dump of", rerr))
		}
	}()
	if err := stream.Send(&pb.DumpProcessResponse{Part: &pb.DumpProcessResponse_Plan{Plan: planPB(d)}}); err != nil {
		return err
	}
	w := &chunkWriter{send: func(b []byte) error {
		return stream.Send(&pb.DumpProcessResponse{Part: &pb.DumpProcessResponse_Chunk{Chunk: b}})
	}}
	n, err := d.Write(ctx, w)
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return dumpError(vm.Name, err)
	}
	return stream.Send(&pb.DumpProcessResponse{Part: &pb.DumpProcessResponse_Trailer{Trailer: &pb.DumpTrailer{
		Pages: pagesPB(d.Pages), Sourced: runsPB(d.Sourced), Unread: runsPB(d.Unread), BytesWritten: n,
	}}})
}

func (s *dumpService) DumpModule(req *pb.DumpModuleRequest, stream pb.DumpService_DumpModuleServer) error {
	ctx := stream.Context()
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return err
	}
	q := session.ModuleQuery{Kernel: req.GetKernel()}
	switch sc := req.GetScope().(type) {
	case *pb.DumpModuleRequest_Pid:
		q.PID = uint64(sc.Pid)
	case *pb.DumpModuleRequest_Kernel:
		if !sc.Kernel {
			return invalid("kernel", "set it to true, or name a pid")
		}
	default:
		return invalid("scope", "name a process (pid) or the kernel (kernel: true)")
	}
	switch m := req.GetModule().(type) {
	case *pb.DumpModuleRequest_Name:
		if m.Name == "" {
			return invalid("name", "empty module name")
		}
		q.Name = m.Name
	case *pb.DumpModuleRequest_Base:
		q.Base = m.Base
	default:
		return invalid("module", "name the module (name) or give its base address (base)")
	}
	release, err := s.c.admitStream(ctx, "DumpModule", dumpChunk)
	if err != nil {
		return err
	}
	defer release()
	d, err := vm.DumpModule(ctx, q)
	if err != nil {
		return dumpError(vm.Name, err)
	}
	h := &pb.DumpModuleHeader{Name: d.Name, Path: d.Path, Base: d.Base, Size: d.Size, FileSize: uint64(len(d.File))}
	if d.PDB != nil {
		h.Pdb = identityPB(*d.PDB)
	}
	if hd := d.Headers; hd != nil {
		h.TimeDateStamp, h.OriginalChecksum, h.PreferredBase = hd.TimeDateStamp, hd.CheckSum, hd.ImageBase
		for _, sec := range hd.Sections {
			h.Sections = append(h.Sections, sec.Name)
		}
	}
	if err := stream.Send(&pb.DumpModuleResponse{Part: &pb.DumpModuleResponse_Header{Header: h}}); err != nil {
		return err
	}
	for off := 0; off < len(d.File); off += dumpChunk {
		end := min(off+dumpChunk, len(d.File))
		if err := stream.Send(&pb.DumpModuleResponse{Part: &pb.DumpModuleResponse_Chunk{Chunk: d.File[off:end]}}); err != nil {
			return err
		}
	}
	return stream.Send(&pb.DumpModuleResponse{Part: &pb.DumpModuleResponse_Trailer{Trailer: &pb.DumpModuleTrailer{
		UnreadablePages: d.Unreadable, BytesWritten: uint64(len(d.File)),
	}}})
}

// dumpError maps a dump's errors: an unknown process or module is
// NOT_FOUND, the guest going away mid-dump is the target's error.
func dumpError(vm string, err error) error {
	var me *session.ModuleError
	switch {
	case errors.As(err, &me):
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_MODULE_NOT_FOUND, err.Error(), "vm", vm, "module", me.Want)
	case errors.Is(err, session.ErrDumpHoldExpired):
		return apiError(codes.DeadlineExceeded, pb.ErrorReason_ERROR_REASON_HOLD_EXPIRED, vm+": "+err.Error(), "vm", vm)
	case errors.Is(err, minidump.ErrInvalid):
		return apiError(codes.Internal, pb.ErrorReason_ERROR_REASON_UNSPECIFIED, vm+": "+err.Error(), "vm", vm)
	}
	return kernelError(vm, err)
}

// chunkWriter cuts a stream of bytes into messages of dumpChunk bytes.
type chunkWriter struct {
	buf  []byte
	send func([]byte) error
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), dumpChunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == dumpChunk {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	// The message owns its bytes until it is sent; a new buffer, not a
	// reused one, so a slow transport never sees them change.
	w.buf = make([]byte, 0, dumpChunk)
	return err
}

func planPB(d *session.ProcessDump) *pb.DumpPlan {
	p := &pb.DumpPlan{
		Pid: cid32(d.Process.PID), ProcessName: d.Process.Name, FileSize: d.Plan.Size(), MemoryBytes: d.Plan.MemoryBytes(),
		Pages: pagesPB(d.Pages), Live: d.Live, PausedRunningGuest: d.PausedRunningGuest(),
	}
	for _, m := range d.Modules {
		out := &pb.DumpModuleInfo{Name: m.Name, Base: m.Base, Size: uint64(m.Size), Checksum: m.CheckSum, TimeDateStamp: m.TimeDateStamp}
		if m.PDB.Name != "" {
			out.Pdb = identityPB(symbols.Identity{GUID: m.PDB.GUID, Age: m.PDB.Age, PDBName: m.PDB.Name})
		}
		p.Modules = append(p.Modules, out)
	}
	for _, t := range d.Threads {
		p.Threads = append(p.Threads, &pb.DumpThreadInfo{Tid: t.TID, ContextSource: t.Context, Rip: t.RIP, Note: t.Note})
	}
	return p
}

func pagesPB(s session.PageSummary) *pb.DumpPageCounts {
	return &pb.DumpPageCounts{Written: s.Written, Ram: s.RAM, DemandZero: s.DemandZero, Pagefile: s.Pagefile, File: s.File,
		Unread: s.Unread, Uncommitted: s.Uncommitted}
}

func runsPB(runs []session.PageRun) []*pb.DumpPageRun {
	var out []*pb.DumpPageRun
	for _, r := range runs {
		out = append(out, &pb.DumpPageRun{Start: r.Start, End: r.End, State: r.State, Source: r.Source})
	}
	return out
}
