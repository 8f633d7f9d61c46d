package api

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
)

// vmInfo describes a held VM from its Target. It asks only what the Target
// knows without a round trip to the stub, so GetVM stays cheap and never
// disturbs a running guest.
func vmInfo(vm *session.Session, d *pb.Domain) *pb.VM {
	t := vm.Target
	running, stop := t.Running()
	caps := t.Capabilities()
	out := &pb.VM{
		Domain:                     d,
		Running:                    running,
		Accelerator:                accelerator(caps.Accel),
		HardwareBreakpointSlots:    uint32(max(caps.HardwareSlots, 0)),
		SoftwareBreakpointsVisible: caps.SoftwareVisible,
	}
	if mb, ok := t.(vmi.MemoryBackender); ok {
		out.MemoryBackend = memoryBackend(mb.MemoryBackend())
	}
	if k := vm.FoundKernel(); k != nil {
		out.Kernel = &pb.Kernel{
			Base: k.Image.Base, Size: uint64(k.Image.Image.SizeOfImage), Pdb: identityPB(k.Image.Image.ID),
			SymbolsFile: k.SymbolFile, Dtb: k.DTB(),
		}
		if !running || out.MemoryBackend != memoryBackend(vmi.MemoryGDBStub) {
			guestClock(vm, k, out.Kernel)
		}
	} else if ks := vm.LastKernelSearch(); ks.Searched {
		out.KernelSearch = &pb.KernelSearch{
			Searched: true, Error: ks.Err.Error(), At: timestamppb.New(ks.At), UntilReset: ks.UntilReset,
		}
		if !ks.RetryAfter.IsZero() {
			out.KernelSearch.RetryAfter = timestamppb.New(ks.RetryAfter)
		}
	} else {
		out.KernelSearch = &pb.KernelSearch{}
	}
	if !running && stop != nil {
		out.Stop = stopInfo(stop, time.Time{})
		// CPUs needs the stub, which only answers a stopped guest.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if cpus, err := t.CPUs(ctx); err == nil {
			for _, c := range cpus {
				out.Cpus = append(out.Cpus, cpuIndex(c))
			}
		}
	}
	return out
}

// memoryBackend names a data plane as the proto documents its values.
func memoryBackend(k vmi.MemoryKind) string {
	switch k {
	case vmi.MemorySharedFile:
		return "shared-file"
	case vmi.MemoryMemfd:
		return "memfd"
	case vmi.MemoryProcMem:
		return "procmem"
	case vmi.MemoryGDBStub:
		return "gdbstub"
	}
	return ""
}

func accelerator(a vmi.Accelerator) pb.Accelerator {
	switch a {
	case vmi.AccelTCG:
		return pb.Accelerator_ACCELERATOR_TCG
	case vmi.AccelKVM, vmi.AccelKVMNoVirt:
		return pb.Accelerator_ACCELERATOR_KVM
	}
	return pb.Accelerator_ACCELERATOR_UNSPECIFIED
}

// guestClock adds the guest's clock and version, from the page every
// Windows keeps at a fixed address: cheaper and steadier than asking the
// stub. The caller skips it while the guest runs behind a stub-only data
// plane, where the read would stop it; the fields are then unset, as the
// proto allows.
func guestClock(vm *session.Session, k *nt.Opened, out *pb.Kernel) {
	u, err := k.SharedUserData()
	if err != nil {
		vm.Log().Debug("the guest's clock and version: reading _KUSER_SHARED_DATA", "error", err)
		return
	}
	out.SystemTime = timestamppb.New(nt.FileTime(u.SystemTime))
	out.Uptime = durationpb.New(time.Duration(u.InterruptTime) * 100)
	if u.NtMajorVersion != 0 {
		out.Version = fmt.Sprintf("%d.%d.%d", u.NtMajorVersion, u.NtMinorVersion, u.NtBuildNumber)
	}
}
