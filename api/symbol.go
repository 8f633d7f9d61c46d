package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/symbols"
)

type symbolService struct {
	pb.UnimplementedSymbolServiceServer
	c *Config

	// tables caches what the store loaded: a PDB is parsed once per
	// identity, and a Table is immutable, so sharing it is safe.
	mu     sync.Mutex
	tables map[symbols.Identity]*symbols.Table
}

// scopeTable returns the symbol table a request's scope names, and the base
// its addresses are relative to. In a VM, "nt" is the kernel's own
// symbols; any other module's PDB is found by the RSDS identity its image
// carries in memory, among the kernel's modules or pid's images.
func (s *symbolService) scopeTable(ctx context.Context, scope *pb.SymbolScope, module string, pid uint32) (symbols.Symbols, uint64, error) {
	switch sc := scope.GetScope().(type) {
	case *pb.SymbolScope_Vm:
		vm, k, err := s.c.vmKernel(ctx, sc.Vm)
		if err != nil {
			return nil, 0, err
		}
		if isKernelModule(module) {
			return k.Symbols(), k.Base(), nil
		}
		p, err := processOf(vm.Name, k, pid)
		if err != nil {
			return nil, 0, err
		}
		t, m, err := k.Symbolizer().ModuleSymbols(ctx, p, module)
		if err != nil {
			return nil, 0, moduleSymbolError(vm.Name, module, err)
		}
		return t, m.Base, nil
	case *pb.SymbolScope_Pdb:
		t, err := s.load(ctx, sc.Pdb)
		return t, 0, err
	}
	return nil, 0, invalid("scope", "name a VM or a PDB identity")
}

// processOf is the process a pid names; 0 names none (kernel modules
// only).
func processOf(vm string, k *nt.Opened, pid uint32) (*nt.Process, error) {
	if pid == 0 {
		return nil, nil
	}
	p, err := k.ProcessByPID(uint64(pid))
	if err != nil {
		return nil, kernelError(vm, err)
	}
	return &p, nil
}

// moduleSymbolError maps the symbolizer's errors.
func moduleSymbolError(vm, query string, err error) error {
	switch {
	case errors.Is(err, nt.ErrModuleNotFound):
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_MODULE_NOT_FOUND, err.Error(), "vm", vm, "module", query)
	case errors.Is(err, nt.ErrSymbolNotFound):
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_SYMBOL_NOT_FOUND, err.Error(), "vm", vm, "symbol", query)
	case isSymbolsMiss(err):
		return symbolError(query, err)
	}
	return targetError(vm, "reading the modules of", err)
}

func (s *symbolService) load(ctx context.Context, p *pb.PdbIdentity) (*symbols.Table, error) {
	id, err := identityFromPB(p)
	if err != nil {
		return nil, err
	}
	if s.c.Symbols == nil {
		return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_SYMBOLS_NOT_FOUND,
			"frostd has no symbol path (set --symbol-path or _NT_SYMBOL_PATH)")
	}
	s.mu.Lock()
	t := s.tables[id]
	s.mu.Unlock()
	if t != nil {
		return t, nil
	}
	t, _, err = s.c.Symbols.Load(ctx, id)
	if err != nil {
		return nil, symbolError(id.String(), err)
	}
	s.mu.Lock()
	if s.tables == nil {
		s.tables = map[symbols.Identity]*symbols.Table{}
	}
	s.tables[id] = t
	s.mu.Unlock()
	return t, nil
}

func (s *symbolService) ResolveSymbol(ctx context.Context, req *pb.ResolveSymbolRequest) (*pb.ResolveSymbolResponse, error) {
	n, err := parseSymbolName(req.GetSymbol())
	if err != nil {
		return nil, err
	}
	if vmName, ok := req.GetScope().GetScope().(*pb.SymbolScope_Vm); ok {
		vm, k, err := s.c.vmKernel(ctx, vmName.Vm)
		if err != nil {
			return nil, err
		}
		sym, err := resolveIn(ctx, vm.Name, k, req.GetPid(), n)
		if err != nil {
			return nil, err
		}
		addr := sym.Addr + n.Offset
		out := &pb.ResolveSymbolResponse{Address: addr, Module: sym.Image.ModuleName(), ModuleBase: sym.Image.Base,
			Rva: addr - sym.Image.Base, Source: sourcePB(sym)}
		if sym.PDB != (symbols.Identity{}) {
			out.Pdb = identityPB(sym.PDB)
		}
		return out, nil
	}
	t, base, err := s.scopeTable(ctx, req.GetScope(), n.module(), 0)
	if err != nil {
		return nil, err
	}
	rva, err := t.Address(n.Name)
	if err != nil {
		return nil, symbolError(req.GetSymbol(), err)
	}
	rva += n.Offset
	return &pb.ResolveSymbolResponse{Address: base + rva, Module: n.module(), ModuleBase: base, Rva: rva, Source: pb.SymbolSource_SYMBOL_SOURCE_PDB}, nil
}

// resolveIn resolves module!name (without its offset) in a VM: the
// kernel's modules, and pid's images when pid is given.
func resolveIn(ctx context.Context, vm string, k *nt.Opened, pid uint32, n symbolName) (nt.Symbol, error) {
	p, err := processOf(vm, k, pid)
	if err != nil {
		return nt.Symbol{}, err
	}
	sym, err := k.Symbolizer().Resolve(ctx, nt.SpaceOf(k.Kernel, p), p, n.module(), n.Name)
	if err != nil {
		if errors.Is(err, nt.ErrModuleNotFound) && p == nil && !isKernelModule(n.module()) {
			return sym, apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_MODULE_NOT_FOUND,
				err.Error()+"; a user module's symbols resolve in a process: give its pid", "vm", vm, "module", n.module())
		}
		return sym, moduleSymbolError(vm, n.String(), err)
	}
	return sym, nil
}

func (s *symbolService) LookupAddress(ctx context.Context, req *pb.LookupAddressRequest) (*pb.LookupAddressResponse, error) {
	if vmName, ok := req.GetScope().GetScope().(*pb.SymbolScope_Vm); ok {
		vm, k, err := s.c.vmKernel(ctx, vmName.Vm)
		if err != nil {
			return nil, err
		}
		p, err := processOf(vm.Name, k, req.GetPid())
		if err != nil {
			return nil, err
		}
		sym, err := k.Symbolizer().Lookup(ctx, nt.SpaceOf(k.Kernel, p), p, req.GetAddress())
		if err != nil && !sym.InModule() {
			return nil, moduleSymbolError(vm.Name, fmt.Sprintf("%#x", req.GetAddress()), err)
		}
		return lookupPB(sym), nil
	}
	t, base, err := s.scopeTable(ctx, req.GetScope(), "nt", 0)
	if err != nil {
		return nil, err
	}
	if req.GetAddress() < base {
		return nil, apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_MODULE_NOT_FOUND, "address below the module")
	}
	rva := req.GetAddress() - base
	resp := &pb.LookupAddressResponse{Module: "nt", Name: symbols.Describe("nt", t, rva), ModuleBase: base, Source: pb.SymbolSource_SYMBOL_SOURCE_PDB}
	if name, off, err := t.Nearest(rva); err == nil {
		resp.Symbol, resp.Offset = name, off
	} else {
		resp.Offset = rva
	}
	return resp, nil
}

// lookupPB maps a named address; one in no module is named by itself.
func lookupPB(sym nt.Symbol) *pb.LookupAddressResponse {
	return &pb.LookupAddressResponse{Name: sym.String(), Module: moduleOf(sym), Symbol: sym.Name, Offset: sym.Offset,
		ModuleBase: sym.Image.Base, Source: sourcePB(sym)}
}

func (s *symbolService) GetField(ctx context.Context, req *pb.GetFieldRequest) (*pb.GetFieldResponse, error) {
	if req.GetPath() == "" {
		return nil, invalid("path", "a field path such as _EPROCESS.Pcb.DirectoryTableBase is required")
	}
	t, _, err := s.scopeTable(ctx, req.GetScope(), moduleOrNT(req.GetModule()), req.GetPid())
	if err != nil {
		return nil, err
	}
	f, err := t.Field(req.GetPath())
	if err != nil {
		return nil, symbolError(req.GetPath(), err)
	}
	return &pb.GetFieldResponse{
		Offset: f.Offset, BitPosition: f.BitPosition, BitLength: f.BitLength,
		Size: f.Size, Kind: f.Kind.String(), TypeName: typeName(&f.Type),
	}, nil
}

func (s *symbolService) GetType(ctx context.Context, req *pb.GetTypeRequest) (*pb.GetTypeResponse, error) {
	if req.GetName() == "" {
		return nil, invalid("name", "a type name is required")
	}
	syms, _, err := s.scopeTable(ctx, req.GetScope(), moduleOrNT(req.GetModule()), req.GetPid())
	if err != nil {
		return nil, err
	}
	t, ok := syms.(*symbols.Table)
	if !ok {
		return nil, apiError(codes.Internal, pb.ErrorReason_ERROR_REASON_UNSPECIFIED, "the module's symbols are not a table")
	}
	if ut, err := t.UserType(req.GetName()); err == nil {
		resp := &pb.GetTypeResponse{Name: req.GetName(), Kind: ut.Kind.String(), Size: ut.Size}
		for _, m := range ut.Fields {
			resp.Members = append(resp.Members, &pb.TypeMember{
				Name: m.Name, Offset: m.Offset, Kind: m.Type.Kind.String(), TypeName: typeName(&m.Type),
				BitPosition: m.Type.BitPosition, BitLength: m.Type.BitLength,
			})
		}
		return resp, nil
	}
	size, err := t.Size(req.GetName())
	if err != nil {
		return nil, symbolError(req.GetName(), err)
	}
	kind := "base"
	if _, ok := t.Data().Enums[req.GetName()]; ok {
		kind = "enum"
	}
	return &pb.GetTypeResponse{Name: req.GetName(), Kind: kind, Size: size}, nil
}

func moduleOrNT(m string) string {
	if m == "" {
		return "nt"
	}
	return m
}

// typeName names a type reference as a C declaration would, roughly:
// "_LIST_ENTRY", "pointer to _EPROCESS", "array[16] of unsigned char".
func typeName(r *symbols.TypeRef) string {
	if r == nil {
		return ""
	}
	switch r.Kind {
	case symbols.KindPointer:
		return "pointer to " + typeName(r.Sub)
	case symbols.KindArray:
		return "array[" + uitoa(r.Count) + "] of " + typeName(r.Sub)
	case symbols.KindBitfield:
		return typeName(r.Sub)
	}
	if r.Name == "" && r.Kind == symbols.KindFunction {
		return "function"
	}
	return r.Name
}

// isKernelModule: "nt" is the kernel whatever its file is called, as in
// WinDbg.
func isKernelModule(m string) bool {
	switch strings.ToLower(m) {
	case "nt", "ntoskrnl", "ntkrnlmp", "ntkrnlpa", "ntkrpamp":
		return true
	}
	return false
}

// completeLimit is CompleteSymbol's default number of names;
// maxCompletePrefix bounds what a prefix may be (a C++ name is long, but
// not a kilobyte).
const (
	completeLimit     = 100
	maxCompletePrefix = 1024
)

// CompleteSymbol lists module!name completions of a prefix, for a shell's
// tab: in a VM, its modules and their PDBs' or exports' names (nt lists
// them); in a PDB scope, that PDB's names after whatever module the
// prefix names.
func (s *symbolService) CompleteSymbol(ctx context.Context, req *pb.CompleteSymbolRequest) (*pb.CompleteSymbolResponse, error) {
	limit := int(req.GetLimit())
	switch {
	case limit == 0:
		limit = completeLimit
	case limit > nt.MaxCompletions:
		return nil, invalid("limit", "at most %d", nt.MaxCompletions)
	}
	if len(req.GetPrefix()) > maxCompletePrefix {
		return nil, invalid("prefix", "longer than %d bytes", maxCompletePrefix)
	}
	if vmName, ok := req.GetScope().GetScope().(*pb.SymbolScope_Vm); ok {
		vm, k, err := s.c.vmKernel(ctx, vmName.Vm)
		if err != nil {
			return nil, err
		}
		p, err := processOf(vm.Name, k, req.GetPid())
		if err != nil {
			return nil, err
		}
		names, truncated, err := k.Symbolizer().Complete(ctx, nt.SpaceOf(k.Kernel, p), p, req.GetPrefix(), limit)
		if err != nil {
			return nil, moduleSymbolError(vm.Name, req.GetPrefix(), err)
		}
		return &pb.CompleteSymbolResponse{Names: names, Truncated: truncated}, nil
	}
	module, name, ok := strings.Cut(req.GetPrefix(), "!")
	if !ok {
		// A PDB is one module, which a query may call anything: offer
		// "nt!", the name frostctl's examples use, when it fits.
		if len(module) <= 2 && strings.EqualFold(module, "nt"[:len(module)]) {
			return &pb.CompleteSymbolResponse{Names: []string{"nt!"}}, nil
		}
		return &pb.CompleteSymbolResponse{}, nil
	}
	t, _, err := s.scopeTable(ctx, req.GetScope(), module, 0)
	if err != nil {
		return nil, err
	}
	names, truncated := nt.CompleteIn(t, module, name, limit)
	return &pb.CompleteSymbolResponse{Names: names, Truncated: truncated}, nil
}
