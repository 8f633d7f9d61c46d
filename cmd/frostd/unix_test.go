package main

import (
	"os"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/frostvmi/frost/api"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func TestUnixSocketMode(t *testing.T) {
	args := baseArgs(t)
	d := startDaemon(t, args...)
	fi, err := os.Stat(d.addr)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket %s: mode %v, want a socket with 0600", d.addr, fi.Mode())
	}
	if rc := d.stop(); rc != 0 {
		t.Errorf("frostd exited with %d:\n%s", rc, d.out)
	}
	if _, err := os.Stat(d.addr); !os.IsNotExist(err) {
		t.Errorf("socket left behind after shutdown: %v", err)
	}
}

func TestReflectionListsServices(t *testing.T) {
	d := startDaemon(t, baseArgs(t)...)
	cc := dialUnix(t, d.addr)
	stream, err := rpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		got = append(got, s.GetName())
	}
	for _, want := range append(api.ServiceNames(), "grpc.health.v1.Health") {
		if !slices.Contains(got, want) {
			t.Errorf("reflection lacks %s; it lists %v", want, got)
		}
	}
}

func TestHealthServing(t *testing.T) {
	d := startDaemon(t, baseArgs(t)...)
	hc := healthpb.NewHealthClient(dialUnix(t, d.addr))
	for _, svc := range append(api.ServiceNames(), "") {
		resp, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("health %q: %v", svc, err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v, want SERVING", svc, resp.GetStatus())
		}
	}
}

func TestWritesNeedAllowWrite(t *testing.T) {
	d := startDaemon(t, baseArgs(t)...)
	cc := dialUnix(t, d.addr)
	_, err := pb.NewMemoryServiceClient(cc).WritePhysical(ctxT(t), &pb.WritePhysicalRequest{Vm: "any", Address: 0x1000, Data: []byte{1}})
	wantReason(t, err, codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_WRITES_DISABLED)
	_, err = pb.NewMemoryServiceClient(cc).WriteVirtual(ctxT(t), &pb.WriteVirtualRequest{Vm: "any", Data: []byte{1}})
	wantReason(t, err, codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_WRITES_DISABLED)
	_, err = pb.NewCPUServiceClient(cc).SetRegisters(ctxT(t), &pb.SetRegistersRequest{Vm: "any", Registers: []*pb.Register{{Name: "rax"}}})
	wantReason(t, err, codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_WRITES_DISABLED)
}

func TestWithAllowWriteAWriteReachesTheVMLookup(t *testing.T) {
	d := startDaemon(t, append(baseArgs(t), "--allow-write")...)
	cc := dialUnix(t, d.addr)
	_, err := pb.NewMemoryServiceClient(cc).WritePhysical(ctxT(t), &pb.WritePhysicalRequest{Vm: "nope", Address: 0x1000, Data: []byte{1}})
	wantReason(t, err, codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_VM_NOT_ATTACHED)
}

// wantReason checks a status's code and its ErrorDetail's reason.
func wantReason(t *testing.T, err error, code codes.Code, reason pb.ErrorReason) *pb.ErrorDetail {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("code %v (%v), want %v", st.Code(), err, code)
	}
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok {
			if ed.GetReason() != reason {
				t.Errorf("reason %v, want %v", ed.GetReason(), reason)
			}
			return ed
		}
	}
	t.Fatalf("no ErrorDetail in %v", err)
	return nil
}
