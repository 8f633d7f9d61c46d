package api

import (
	"context"
	"encoding/binary"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
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
func cpuByIndex(ctx context.Context, vm *session.Session, idx uint32) (vmi.CPU, error) {
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
	case s.Signal == vmi.SignalInt && s.Outside:
		return pb.StopReason_STOP_REASON_OUTSIDE_PAUSE
	case s.Signal == vmi.SignalInt:
		return pb.StopReason_STOP_REASON_PAUSE
	}
	// QEMU 7.2 reports breakpoints and steps alike as a bare T05: only the
	// caller (Step) or the breakpoint manager, which knows its addresses,
	// can tell them apart.
	return pb.StopReason_STOP_REASON_OTHER
}

// systemRegisterReader is a Target that can read the vCPU state the
// gdbstub's target description lacks (segment descriptor caches, LDT, TR,
// GDT, IDT) from QEMU's monitor (HMP `info registers -a`). It is optional:
// a target without a monitor answers GetRegisters without it.
type systemRegisterReader interface {
	SystemRegisters(ctx context.Context) ([]vmi.CPURegisters, error)
}

// systemRegisters returns the system state of cpus, in their order, or
// why there is none: a caller filling a QEMU CPU-state note must know
// which fields it has rather than get zeros.
func systemRegisters(ctx context.Context, vm *session.Session, cpus []vmi.CPU) ([]*pb.SystemRegisters, string) {
	sr, ok := vm.Target.(systemRegisterReader)
	if !ok {
		return nil, "the target of " + vm.Name + " cannot read segment descriptors and descriptor tables (no QEMU monitor)"
	}
	all, err := sr.SystemRegisters(ctx)
	if err != nil {
		return nil, "reading segment descriptors of " + vm.Name + ": " + err.Error()
	}
	byIndex := map[uint32]*vmi.CPURegisters{}
	for i := range all {
		if all[i].CPU >= 0 {
			byIndex[uint32(all[i].CPU)] = &all[i]
		}
	}
	out := make([]*pb.SystemRegisters, 0, len(cpus))
	for _, c := range cpus {
		r := byIndex[cpuIndex(c)]
		if r == nil {
			return nil, "QEMU's monitor lists no CPU#" + uitoa(uint64(cpuIndex(c))) + " of " + vm.Name
		}
		out = append(out, systemRegistersPB(cpuIndex(c), r))
	}
	return out, ""
}

// systemSegments are the segment registers in QEMU's `info registers`
// order.
var systemSegments = []string{"ES", "CS", "SS", "DS", "FS", "GS", "LDT", "TR"}

func systemRegistersPB(idx uint32, r *vmi.CPURegisters) *pb.SystemRegisters {
	out := &pb.SystemRegisters{
		Cpu: idx,
		Gdt: &pb.DescriptorTable{Base: r.GDT.Base, Limit: r.GDT.Limit},
		Idt: &pb.DescriptorTable{Base: r.IDT.Base, Limit: r.IDT.Limit},
	}
	for _, name := range systemSegments {
		s, ok := r.Segments[name]
		if !ok {
			continue // not printed: the caller sees it missing, not zero
		}
		out.Segments = append(out.Segments, &pb.SegmentRegister{
			Name: strings.ToLower(name), Selector: uint32(s.Selector), Base: s.Base, Limit: s.Limit, Flags: s.Flags,
		})
	}
	return out
}
