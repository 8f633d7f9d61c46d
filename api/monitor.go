package api

import (
	"context"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/frostvmi/frost/monitor"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
)

type monitorService struct {
	pb.UnimplementedMonitorServiceServer
	c *Config
}

func (s *monitorService) MonitorNtWriteFile(req *pb.MonitorNtWriteFileRequest, stream pb.MonitorService_MonitorNtWriteFileServer) error {
	ctx := stream.Context()
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return err
	}
	maxBytes := int(req.GetMaxBytes())
	if maxBytes == 0 {
		maxBytes = 4096
	}
	if maxBytes > monitor.MaxData {
		return tooLarge("max_bytes", monitor.MaxData, "")
	}
	k, err := s.c.kernel(ctx, vm)
	if err != nil {
		return err
	}
	mgr := vm.Manager()
	f := req.GetFilter()
	filter := monitor.Filter{Processes: f.GetProcessNames()}
	for _, p := range f.GetPids() {
		filter.PIDs = append(filter.PIDs, uint64(p))
	}
	w, err := monitor.WatchNtWriteFile(ctx, mgr, k.Kernel, monitor.Options{
		Filter: filter, MaxData: maxBytes, Physical: vmi.ReaderAt(vm.Target),
		// The session tells its kernel's translator of every stop and
		// resume: the monitor shares it.
		Coherent: true,
	})
	if err != nil {
		return bpError(vm.Name, err)
	}
	// The monitor's breakpoint goes with the stream, however it ends.
	defer w.Close(context.WithoutCancel(ctx))
	var lost uint64
	want := strings.ToLower(f.GetFileNameContains())
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events():
			if !ok {
				return nil
			}
			if want != "" && !strings.Contains(strings.ToLower(ev.Path+"\x00"+ev.File), want) {
				continue
			}
			out := writeEvent(ev)
			if l := w.Lost(); l > lost {
				out.Dropped, lost = l-lost, l
			}
			if err := stream.Send(&pb.MonitorNtWriteFileResponse{Event: out}); err != nil {
				return err
			}
		}
	}
}

func writeEvent(ev monitor.WriteEvent) *pb.NtWriteFileEvent {
	out := &pb.NtWriteFileEvent{
		Sequence: ev.Seq, Time: timestamppb.New(ev.Time), Pid: cid32(ev.PID), Tid: cid32(ev.TID),
		ProcessName: ev.Process, Handle: ev.Handle, FileName: ev.File, Length: ev.Length, Data: ev.Data,
		Truncated: len(ev.Data) < int(ev.Length),
	}
	if ev.HasOffset {
		off := uint64(ev.ByteOffset)
		out.ByteOffset = &off
	}
	if ev.DataErr != "" {
		// The monitor reports why the buffer is short as text; the piece
		// after what it read is what could not be.
		out.Pages = append(out.Pages, &pb.PageStatus{
			Offset: uint64(len(ev.Data)), Length: uint64(ev.Length) - min(uint64(ev.Length), uint64(len(ev.Data))),
			Reason: ev.DataErr,
		})
	}
	return out
}
