package api

import (
	"context"
	"errors"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/translate"
)

type processService struct {
	pb.UnimplementedProcessServiceServer
	c *Config
}

// walked splits a list walk's outcome: a walk cut short by guest memory
// (a cycle, a bound, a corrupt node, an unreadable node) still returns
// what it read, flagged truncated; anything else is an error.
func walked(vm string, err error) (truncated bool, _ error) {
	var we *nt.WalkError
	var re *nt.ReadError
	if err == nil {
		return false, nil
	}
	if errors.As(err, &we) || errors.As(err, &re) {
		return true, nil
	}
	return false, kernelError(vm, err)
}

func (s *processService) open(ctx context.Context, name string) (*session.Session, *nt.Opened, error) {
	vm, err := s.c.get(name)
	if err != nil {
		return nil, nil, err
	}
	k, err := s.c.kernel(ctx, vm)
	return vm, k, err
}

func (s *processService) ListProcesses(ctx context.Context, req *pb.ListProcessesRequest) (*pb.ListProcessesResponse, error) {
	vm, k, err := s.open(ctx, req.GetVm())
	if err != nil {
		return nil, err
	}
	procs, werr := k.ProcessesContext(ctx)
	resp := &pb.ListProcessesResponse{}
	if resp.Truncated, err = walked(vm.Name, werr); err != nil {
		return nil, err
	}
	for _, p := range procs {
		// A thread list cut short still counts what it read, and says so;
		// a count of 0 for a list that could not be walked would be wrong.
		ths, werr := k.ThreadsContext(ctx, p)
		t, err := walked(vm.Name, werr)
		if err != nil {
			return nil, err
		}
		resp.Truncated = resp.Truncated || t
		out := &pb.Process{Pid: cid32(p.PID), ParentPid: cid32(p.ParentPID), Name: p.Name, Eprocess: p.EPROCESS, Dtb: p.DTB, ThreadCount: uint32(len(ths))}
		if t := nt.FileTime(p.CreateTime); !t.IsZero() {
			out.CreateTime = timestamppb.New(t)
		}
		if t := nt.FileTime(p.ExitTime); !t.IsZero() {
			out.Exited, out.ExitTime = true, timestamppb.New(t)
		}
		// The PEB is user memory: a process without one (System), or one
		// whose page is out, lists without its command line.
		if pp, err := k.ProcessParameters(p); err == nil {
			out.CommandLine, out.ImagePath = pp.CommandLine, pp.ImagePath
		}
		resp.Processes = append(resp.Processes, out)
	}
	return resp, nil
}

func (s *processService) ListThreads(ctx context.Context, req *pb.ListThreadsRequest) (*pb.ListThreadsResponse, error) {
	vm, k, err := s.open(ctx, req.GetVm())
	if err != nil {
		return nil, err
	}
	procs, werr := k.ProcessesContext(ctx)
	resp := &pb.ListThreadsResponse{}
	if resp.Truncated, err = walked(vm.Name, werr); err != nil {
		return nil, err
	}
	if req.Pid != nil {
		p, err := k.ProcessByPID(uint64(req.GetPid()))
		if err != nil {
			return nil, kernelError(vm.Name, err)
		}
		procs = []nt.Process{p}
	}
	for _, p := range procs {
		ths, werr := k.ThreadsContext(ctx, p)
		t, err := walked(vm.Name, werr)
		if err != nil {
			return nil, err
		}
		resp.Truncated = resp.Truncated || t
		for _, th := range ths {
			start := th.Win32StartAddress
			if start == 0 {
				start = th.StartAddress
			}
			name := ""
			if sym := describe(ctx, k, &p, start); sym.InModule() {
				name = sym.String() // a user start address in the process's images too
			}
			resp.Threads = append(resp.Threads, &pb.Thread{
				Tid: cid32(th.TID), Pid: cid32(th.PID), Ethread: th.ETHREAD, StartAddress: start,
				StartSymbol: name, State: enumName(k, "_KTHREAD_STATE", th.State), Teb: th.Teb,
			})
		}
	}
	return resp, nil
}

// enumName names a value of one of the kernel's enums (_KTHREAD_STATE,
// _MI_VAD_TYPE) from its symbols, or gives the number.
func enumName(k *nt.Opened, enum string, v uint64) string {
	if t, ok := k.Symbols().(*symbols.Table); ok {
		if e := t.Data().Enums[enum]; e != nil {
			best := ""
			for name, val := range e.Constants {
				// Several names may share a value: the first by name is
				// stable across calls.
				if uint64(val) == v && (best == "" || name < best) {
					best = name
				}
			}
			if best != "" {
				return best
			}
		}
	}
	return uitoa(v)
}

func (s *processService) ListModules(ctx context.Context, req *pb.ListModulesRequest) (*pb.ListModulesResponse, error) {
	vm, k, err := s.open(ctx, req.GetVm())
	if err != nil {
		return nil, err
	}
	if scope, ok := req.GetScope().(*pb.ListModulesRequest_Pid); ok {
		return s.processModules(vm.Name, k, scope.Pid)
	}
	mods, werr := k.Drivers()
	resp := &pb.ListModulesResponse{}
	if resp.Truncated, err = walked(vm.Name, werr); err != nil {
		return nil, err
	}
	for _, m := range mods {
		resp.Modules = append(resp.Modules, &pb.Module{Name: m.Name, Path: m.FullName, Base: m.Base, Size: m.Size})
	}
	return resp, nil
}

// processModules is a process's images: its PEB loader lists cross-checked
// with its image views, each with the RSDS identity read from its headers.
func (s *processService) processModules(vm string, k *nt.Opened, pid uint32) (*pb.ListModulesResponse, error) {
	p, err := s.process(vm, k, pid)
	if err != nil {
		return nil, err
	}
	imgs, werr := k.ProcessImages(p)
	resp := &pb.ListModulesResponse{}
	if resp.Truncated, err = walked(vm, werr); err != nil {
		return nil, err
	}
	for _, m := range imgs {
		out := &pb.Module{
			Name: m.Name, Path: m.FullName, Base: m.Base, Size: m.Size, EntryPoint: m.EntryPoint,
			InLoadOrder: m.InLoad, InMemoryOrder: m.InMemory, InInitOrder: m.InInit,
			ImageView: m.ImageVAD, MappedFile: m.MappedFile,
		}
		if m.PDBErr != nil {
			out.PdbError = m.PDBErr.Error()
		} else {
			out.Pdb = identityPB(m.PDB)
		}
		resp.Modules = append(resp.Modules, out)
	}
	return resp, nil
}

func (s *processService) process(vm string, k *nt.Opened, pid uint32) (nt.Process, error) {
	p, err := k.ProcessByPID(uint64(pid))
	if err != nil {
		return nt.Process{}, kernelError(vm, err)
	}
	return p, nil
}

func (s *processService) ListVads(ctx context.Context, req *pb.ListVadsRequest) (*pb.ListVadsResponse, error) {
	vm, k, err := s.open(ctx, req.GetVm())
	if err != nil {
		return nil, err
	}
	p, err := s.process(vm.Name, k, req.GetPid())
	if err != nil {
		return nil, err
	}
	vads, werr := k.VADsContext(ctx, p)
	resp := &pb.ListVadsResponse{}
	if resp.Truncated, err = walked(vm.Name, werr); err != nil {
		return nil, err
	}
	for _, v := range vads {
		out := &pb.Vad{
			Start: v.Start, End: v.End, Vad: v.Address, Private: v.Private, MemCommit: v.MemCommit,
			Protection: v.Protection, ProtectionName: translate.ProtectionString(v.Protection), Type: enumName(k, "_MI_VAD_TYPE", v.VadType),
		}
		if !v.Private && v.Subsection != 0 {
			out.FileName, _ = k.SubsectionFileName(v.Subsection)
		}
		resp.Vads = append(resp.Vads, out)
	}
	return resp, nil
}

func (s *processService) ListHandles(ctx context.Context, req *pb.ListHandlesRequest) (*pb.ListHandlesResponse, error) {
	vm, k, err := s.open(ctx, req.GetVm())
	if err != nil {
		return nil, err
	}
	p, err := s.process(vm.Name, k, req.GetPid())
	if err != nil {
		return nil, err
	}
	hs, werr := k.HandlesContext(ctx, p)
	resp := &pb.ListHandlesResponse{}
	if resp.Truncated, err = walked(vm.Name, werr); err != nil {
		return nil, err
	}
	for _, h := range hs {
		resp.Handles = append(resp.Handles, &pb.Handle{
			Handle: h.Value, Object: h.Body, Type: h.Type, Name: h.Name, GrantedAccess: uint32(h.GrantedAccess),
		})
	}
	return resp, nil
}
