package api

import (
	"context"
	"encoding/binary"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

// cpuIndex numbers vCPUs from 0, as WinDbg does; QEMU's gdbstub numbers
// its threads from 1.
func cpuIndex(c vmi.CPU) uint32 {
	if c.Tid < 1 {
		return 0
	}
	return uint32(c.Tid - 1)
}

// cpuByIndex finds the vCPU a request names.
func cpuByIndex(ctx context.Context, vm *VM, idx uint32) (vmi.CPU, error) {
	cpus, err := vm.Target.CPUs(ctx)
	if err != nil {
		return vmi.CPU{}, targetError(vm.Name, "listing vCPUs of", err)
	}
	for _, c := range cpus {
		if cpuIndex(c) == idx {
			return c, nil
		}
	}
	return vmi.CPU{}, apiError(codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT,
		"no vCPU "+uitoa(uint64(idx))+" in "+vm.Name, "field", "cpu")
}

// registersPB lists a register file in target-description order.
func registersPB(r *vmi.Registers) *pb.Registers {
	if r == nil {
		return nil
	}
	out := &pb.Registers{Cpu: cpuIndex(r.Thread)}
	for _, info := range r.Map().Registers() {
		raw, err := r.Bytes(info.Name)
		if err != nil {
			continue // unavailable in this snapshot: leave it out
		}
		reg := &pb.Register{Name: info.Name, Raw: raw}
		if len(raw) <= 8 {
			var b [8]byte
			copy(b[:], raw)
			reg.Value = binary.LittleEndian.Uint64(b[:])
		}
		out.Registers = append(out.Registers, reg)
	}
	return out
}

// applyRegisters edits regs in place from a request's registers.
func applyRegisters(regs *vmi.Registers, edits []*pb.Register) error {
	for _, e := range edits {
		if e.GetName() == "" {
			return invalid("registers", "a register needs a name")
		}
		var err error
		if len(e.GetRaw()) > 0 {
			err = regs.SetBytes(e.GetName(), e.GetRaw())
		} else {
			err = regs.SetUint(e.GetName(), e.GetValue())
		}
		if err != nil {
			return invalid("registers", "%s: %v", e.GetName(), err)
		}
	}
	return nil
}

func stopInfo(s *vmi.Stop, at time.Time) *pb.StopInfo {
	if s == nil {
		return nil
	}
	out := &pb.StopInfo{
		Sequence:  s.Seq,
		Cpu:       cpuIndex(s.Thread),
		Reason:    stopReason(s),
		Raw:       s.Raw,
		Registers: registersPB(s.Registers),
	}
	if !at.IsZero() {
		out.Time = timestamppb.New(at)
	}
	return out
}

func stopReason(s *vmi.Stop) pb.StopReason {
	switch {
	case s.Watch != nil:
		return pb.StopReason_STOP_REASON_WATCHPOINT
	case s.SWBreak || s.HWBreak:
		return pb.StopReason_STOP_REASON_BREAKPOINT
	case s.Signal == gdbstub.SignalInt:
		return pb.StopReason_STOP_REASON_PAUSE
	}
	// QEMU 7.2 reports breakpoints and steps alike as a bare T05: only the
	// caller (Step) or the breakpoint manager, which knows its addresses,
	// can tell them apart.
	return pb.StopReason_STOP_REASON_OTHER
}
