package api

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/frostvmi/frost/monitor"
	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// countersEvery is how often a network stream reports its counters while
// frames flow (and whenever frames were lost since the last report).
const countersEvery = 2 * time.Second

func (s *monitorService) MonitorNetwork(req *pb.MonitorNetworkRequest, stream pb.MonitorService_MonitorNetworkServer) error {
	ctx := stream.Context()
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return err
	}
	expr, err := monitor.ParseExpr(req.GetFilter())
	if err != nil {
		return invalid("filter", "%v", err)
	}
	k, err := s.c.kernel(ctx, vm)
	if err != nil {
		return err
	}
	sym := k.Symbolizer()
	ndis, err := sym.Ndis(ctx)
	if err != nil {
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_SYMBOL_NOT_FOUND,
			vm.Name+": no NDIS to monitor: "+err.Error(), "vm", vm.Name,
			"symbol", "ndis!"+nt.NdisSendFunction+", ndis!"+nt.NdisReceiveFunction+", nt!"+nt.NdisSendFunction+", nt!"+nt.NdisReceiveFunction)
	}
	filter := monitor.Filter{Processes: req.GetProcesses()}
	for _, p := range req.GetPids() {
		filter.PIDs = append(filter.PIDs, uint64(p))
	}
	w, err := monitor.WatchNetwork(ctx, vm.Manager(), k.Kernel, ndis, monitor.NetworkOptions{
		Filter: filter, Expr: expr, Stack: req.GetStack(), Symbolizer: sym,
		// The session tells its kernel's translator of every stop and
		// resume: the monitor shares it.
		Coherent: true,
	})
	if err != nil {
		return bpError(vm.Name, err)
	}
	// The breakpoints go with the stream, however it ends.
	defer w.Close(context.WithoutCancel(ctx))
	started := &pb.NetworkStarted{Layout: ndis.Layout.String(), Filter: expr.String()}
	for _, a := range w.Armed() {
		started.Breakpoints = append(started.Breakpoints, &pb.NetworkBreakpoint{
			Direction: directionPB(a.Direction), Function: a.Function.String(), Module: moduleOf(a.Function),
			ModuleBase: a.Function.Image.Base, Address: a.Armed.Addr, Source: sourcePB(a.Function),
			Kind: placementKind(a.Armed.Placement),
		})
	}
	if err := stream.Send(&pb.MonitorNetworkResponse{Event: &pb.MonitorNetworkResponse_Started{Started: started}}); err != nil {
		return err
	}
	tick := time.NewTicker(countersEvery)
	defer tick.Stop()
	var reported monitor.Counters
	sendCounters := func(final bool) error {
		c := w.Counters()
		reported = c
		return stream.Send(&pb.MonitorNetworkResponse{Event: &pb.MonitorNetworkResponse_Counters{Counters: countersPB(c, final)}})
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if c := w.Counters(); c.Calls != reported.Calls || c.Lost != reported.Lost {
				if err := sendCounters(false); err != nil {
					return err
				}
			}
		case ev, ok := <-w.Events():
			if !ok {
				// The monitor ended (a guest reset, the target gone).
				return sendCounters(true)
			}
			if err := stream.Send(&pb.MonitorNetworkResponse{Event: &pb.MonitorNetworkResponse_Frame{Frame: framePB(ev, req.GetIncludeFrames())}}); err != nil {
				return err
			}
			if c := w.Counters(); c.Lost != reported.Lost {
				// Losses are reported as they happen, not a tick later.
				if err := sendCounters(false); err != nil {
					return err
				}
			}
		}
	}
}

func directionPB(d monitor.Direction) pb.FrameDirection {
	switch d {
	case monitor.Send:
		return pb.FrameDirection_FRAME_DIRECTION_SEND
	case monitor.Receive:
		return pb.FrameDirection_FRAME_DIRECTION_RECEIVE
	}
	return pb.FrameDirection_FRAME_DIRECTION_UNSPECIFIED
}

func framePB(ev monitor.FrameEvent, data bool) *pb.NetworkFrame {
	out := &pb.NetworkFrame{
		Sequence: ev.Seq, Time: timestamppb.New(ev.Time), Direction: directionPB(ev.Direction), Interface: ev.Interface,
		ProcessName: ev.Process, Pid: cid32(ev.PID), Tid: cid32(ev.TID), AttributionError: ev.AttributionErr,
		Length: uint32(min(ev.Length, nt.MaxNetFrame+1)), Unreadable: ev.Unreadable,
		Summary: ev.Decoded.Summary, Layers: ev.Decoded.Layers, DecodeError: ev.Decoded.Err,
		NetBufferList: ev.NBL, NetBuffer: ev.NB, Index: uint32(ev.Index),
	}
	if ev.Unreadable != "" {
		out.Summary = "unreadable: " + ev.Unreadable
	}
	if data {
		out.Data = ev.Frame
	}
	if ev.Stack != nil {
		out.Stack = stackPB(*ev.Stack)
	}
	return out
}

func countersPB(c monitor.Counters, final bool) *pb.NetworkCounters {
	return &pb.NetworkCounters{
		Calls: c.Calls, Frames: c.Frames, Bytes: c.Bytes, Filtered: c.Filtered, Lost: c.Lost,
		Unreadable: c.Unreadable, UnreadableReasons: c.Reasons, ChainErrors: c.ChainErrors, LastError: c.LastError,
		Final: final,
	}
}
