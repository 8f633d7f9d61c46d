package api

import (
	"context"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"

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
// its addresses are relative to.
func (s *symbolService) scopeTable(ctx context.Context, scope *pb.SymbolScope, module string) (*symbols.Table, uint64, error) {
	switch sc := scope.GetScope().(type) {
	case *pb.SymbolScope_Vm:
		vm, err := s.c.get(sc.Vm)
		if err != nil {
			return nil, 0, err
		}
		if !isKernelModule(module) {
			return nil, 0, notYet("symbols of module "+module+" in a VM", "nt: loading drivers' symbols by their RSDS identity")
		}
		k, err := s.c.kernel(ctx, vm)
		if err != nil {
			return nil, 0, err
		}
		t, ok := k.Symbols().(*symbols.Table)
		if !ok {
			return nil, 0, apiError(codes.Internal, pb.ErrorReason_ERROR_REASON_UNSPECIFIED, "the kernel's symbols are not a table")
		}
		return t, k.Base(), nil
	case *pb.SymbolScope_Pdb:
		t, err := s.load(ctx, sc.Pdb)
		return t, 0, err
	}
	return nil, 0, invalid("scope", "name a VM or a PDB identity")
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
	t, base, err := s.scopeTable(ctx, req.GetScope(), n.module())
	if err != nil {
		return nil, err
	}
	rva, err := t.Address(n.Name)
	if err != nil {
		return nil, symbolError(req.GetSymbol(), err)
	}
	rva += n.Offset
	return &pb.ResolveSymbolResponse{Address: base + rva, Module: n.module(), ModuleBase: base, Rva: rva}, nil
}

func (s *symbolService) LookupAddress(ctx context.Context, req *pb.LookupAddressRequest) (*pb.LookupAddressResponse, error) {
	t, base, err := s.scopeTable(ctx, req.GetScope(), "nt")
	if err != nil {
		return nil, err
	}
	if req.GetAddress() < base {
		return nil, apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_MODULE_NOT_FOUND, "address below the module")
	}
	rva := req.GetAddress() - base
	resp := &pb.LookupAddressResponse{Module: "nt", Name: symbols.Describe("nt", t, rva)}
	if name, off, err := t.Nearest(rva); err == nil {
		resp.Symbol, resp.Offset = name, off
	} else {
		resp.Offset = rva
	}
	return resp, nil
}

func (s *symbolService) GetField(ctx context.Context, req *pb.GetFieldRequest) (*pb.GetFieldResponse, error) {
	if req.GetPath() == "" {
		return nil, invalid("path", "a field path such as _EPROCESS.Pcb.DirectoryTableBase is required")
	}
	t, _, err := s.scopeTable(ctx, req.GetScope(), moduleOrNT(req.GetModule()))
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
	t, _, err := s.scopeTable(ctx, req.GetScope(), moduleOrNT(req.GetModule()))
	if err != nil {
		return nil, err
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
