package api

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// convertClient serves the symbol service with dataDir as --data-dir.
func convertClient(t *testing.T, dataDir string) pb.SymbolServiceClient {
	t.Helper()
	c := testConfig(&Config{DataDir: dataDir})
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	pb.RegisterSymbolServiceServer(srv, &symbolService{c: c})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("passthrough:///sym",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return lis.Dial() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return pb.NewSymbolServiceClient(cc)
}

// convert uploads data as name and reads the answer to its end.
func convert(t *testing.T, sym pb.SymbolServiceClient, name string, data []byte) (int, error) {
	t.Helper()
	st, err := sym.ConvertPdb(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(len(data), 1<<20)
		if err := st.Send(&pb.ConvertPdbRequest{PdbName: name, Chunk: data[:n]}); err != nil {
			break // the server ended the call; Recv says why
		}
		data = data[n:]
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	got := 0
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got += len(r.GetChunk())
	}
}

// Issue 19: uploads spool under frostd's own directory (beside
// --data-dir, never /tmp), what a dead frostd left there is reaped, and
// no error names a spool file.
func TestConvertPdbSpool(t *testing.T) {
	root := t.TempDir()
	spool := filepath.Join(root, "spool")
	// A dead frostd's leftover (pid 2^22 is above any pid_max default),
	// and a file not of the spool's naming, which stays.
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"upload-4194304-123", "keep-me"} {
		if err := os.WriteFile(filepath.Join(spool, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sym := convertClient(t, filepath.Join(root, "vms"))

	_, err := convert(t, sym, "junk.pdb", []byte(strings.Repeat("not a PDB ", 1000)))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("junk: %v, want InvalidArgument", err)
	}
	if msg := status.Convert(err).Message(); strings.Contains(msg, root) || strings.Contains(msg, "upload-") || strings.Contains(msg, os.TempDir()) {
		t.Errorf("the error names a spool file: %q", msg)
	}
	ents, err := os.ReadDir(spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "keep-me" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("spool after a converted upload: %v, want only keep-me (the dead frostd's file reaped, this one's removed)", names)
	}

	pdbPath, _ := filepath.Abs("../integration/guest/out/frostimg.pdb")
	data, err := os.ReadFile(pdbPath)
	if err != nil {
		t.Skipf("no real PDB to convert (make guest): %v", err)
	}
	n, err := convert(t, sym, "frostimg.pdb", data)
	if err != nil || n == 0 {
		t.Fatalf("converting a real PDB: %d bytes of ISF, %v", n, err)
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 1 {
		t.Errorf("spool after a conversion: %d files, want keep-me alone", len(ents))
	}
}
