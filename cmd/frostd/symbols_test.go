package main

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/symbols/pdb"
)

// guestPDB is the bundled guest's kernel PDB, written by lld-link
// (`make guest`).
func guestPDB(t *testing.T) (dir string, id *pb.PdbIdentity) {
	t.Helper()
	dir, _ = filepath.Abs("../../integration/guest/out")
	path := filepath.Join(dir, "ntkrnlmp.pdb")
	f, err := os.Open(path)
	if err != nil {
		if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" {
			t.Fatalf("%v (run `make guest`)", err)
		}
		t.Skipf("%v: run `make guest` first", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	got, err := pdb.ReadIdentity(f, fi.Size(), "ntkrnlmp.pdb")
	if err != nil {
		t.Fatal(err)
	}
	return dir, &pb.PdbIdentity{Guid: got.GUID.String(), Age: got.Age, PdbName: got.PDBName}
}

func symbolsDaemon(t *testing.T) (pb.SymbolServiceClient, *pb.SymbolScope) {
	dir, id := guestPDB(t)
	args := baseArgs(t)
	for i := range args {
		if args[i] == "--symbol-path" {
			args[i+1] = dir
		}
	}
	d := startDaemon(t, args...)
	return pb.NewSymbolServiceClient(dialUnix(t, d.addr)), &pb.SymbolScope{Scope: &pb.SymbolScope_Pdb{Pdb: id}}
}

func TestUnknownSymbolIsNotFound(t *testing.T) {
	c, scope := symbolsDaemon(t)
	_, err := c.ResolveSymbol(ctxT(t), &pb.ResolveSymbolRequest{Scope: scope, Symbol: "nt!NtNoSuchFunctionAnywhere"})
	detail := wantReason(t, err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SYMBOL_NOT_FOUND)
	if detail.GetMetadata()["symbol"] != "nt!NtNoSuchFunctionAnywhere" {
		t.Errorf("metadata %v does not name the symbol", detail.GetMetadata())
	}
	_, err = c.GetField(ctxT(t), &pb.GetFieldRequest{Scope: scope, Path: "_EPROCESS.NoSuchField"})
	wantReason(t, err, codes.NotFound, pb.ErrorReason_ERROR_REASON_FIELD_NOT_FOUND)
}

func TestSymbolRoundTrip(t *testing.T) {
	c, scope := symbolsDaemon(t)
	res, err := c.ResolveSymbol(ctxT(t), &pb.ResolveSymbolRequest{Scope: scope, Symbol: "nt!NtWriteFile+0x10"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := c.LookupAddress(ctxT(t), &pb.LookupAddressRequest{Scope: scope, Address: res.GetAddress()})
	if err != nil {
		t.Fatal(err)
	}
	if back.GetName() != "nt!NtWriteFile+0x10" {
		t.Errorf("LookupAddress(%#x) = %q, want nt!NtWriteFile+0x10", res.GetAddress(), back.GetName())
	}
	f, err := c.GetField(ctxT(t), &pb.GetFieldRequest{Scope: scope, Path: "_EPROCESS.UniqueProcessId"})
	if err != nil {
		t.Fatal(err)
	}
	if f.GetSize() != 8 {
		t.Errorf("_EPROCESS.UniqueProcessId: size %d, want 8", f.GetSize())
	}
}
