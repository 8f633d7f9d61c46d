package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/frostvmi/frost/api"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// endingStreams ends its streams the way frostd does when the VM goes
// away or frostd stops: Subscribe says the VM is gone, then returns; the
// monitor returns after one write. When hang is set, Subscribe instead
// waits for the server to stop (frostd killed).
type endingStreams struct {
	pb.UnimplementedBreakpointServiceServer
	pb.UnimplementedMonitorServiceServer
	hang    bool
	started chan struct{}
}

func (e *endingStreams) Subscribe(req *pb.SubscribeRequest, s pb.BreakpointService_SubscribeServer) error {
	if err := s.Send(&pb.SubscribeResponse{Event: &pb.SubscribeResponse_Subscribed{Subscribed: &pb.Subscribed{SubscriptionId: 1}}}); err != nil {
		return err
	}
	if e.hang {
		close(e.started)
		<-s.Context().Done()
		return nil
	}
	return s.Send(&pb.SubscribeResponse{Event: &pb.SubscribeResponse_VmEvent{VmEvent: &pb.VMEvent{
		Kind: pb.VMEvent_KIND_GONE, Time: timestamppb.Now(), Reason: "QEMU exited"}}})
}

func (e *endingStreams) MonitorNtWriteFile(req *pb.MonitorNtWriteFileRequest, s pb.MonitorService_MonitorNtWriteFileServer) error {
	return s.Send(&pb.MonitorNtWriteFileResponse{Event: &pb.NtWriteFileEvent{
		Time: timestamppb.Now(), Pid: 420, ProcessName: "writer.exe", FileName: `\frost\log.txt`, Length: 5, Data: []byte("hello")}})
}

func startEndingServer(t *testing.T, e *endingStreams) (string, *grpc.Server) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "frostd.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	o := overriding{ServiceRegistrar: srv, skip: map[string]bool{
		pb.BreakpointService_ServiceDesc.ServiceName: true,
		pb.MonitorService_ServiceDesc.ServiceName:    true,
	}}
	api.Register(o, api.Config{})
	pb.RegisterBreakpointServiceServer(srv, e)
	pb.RegisterMonitorServiceServer(srv, e)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return sock, srv
}

// A stream that frostd ends (the VM went away, frostd stopped) exits
// non-zero and says why; it used to exit 0 as if the user had stopped it
// (issue 12, item 12).
func TestStreamEndedByFrostdFails(t *testing.T) {
	bin := buildFrostctl(t)
	sock, _ := startEndingServer(t, &endingStreams{})
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"events", "--vm", "win10"}, []string{"frostd ended the breakpoint events of win10", `"gone" event (QEMU exited)`}},
		{[]string{"break", "--vm", "win10", "nt!NtWriteFile"}, []string{"frostd ended the breakpoint events of win10", "QEMU exited"}},
		{[]string{"monitor", "ntwritefile", "--vm", "win10"}, []string{"frostd ended the NtWriteFile monitor of win10", "went away"}},
	} {
		stdout, stderr, code := runBinary(t, bin, nil, append([]string{"--addr", sock}, tc.args...)...)
		t.Logf("$ frostctl %s\n%s%s", strings.Join(tc.args, " "), stdout, stderr)
		if code != 1 {
			t.Errorf("frostctl %s: exit %d after frostd ended the stream, want 1", strings.Join(tc.args, " "), code)
		}
		if !hasAll(stderr, tc.want...) {
			t.Errorf("frostctl %s: stderr lacks %q", strings.Join(tc.args, " "), tc.want)
		}
	}
}

// frostd killed mid-stream: the client loses the connection and says so.
func TestStreamLostFrostdFails(t *testing.T) {
	bin := buildFrostctl(t)
	e := &endingStreams{hang: true, started: make(chan struct{})}
	sock, srv := startEndingServer(t, e)
	cmd := exec.Command(bin, "--addr", sock, "events", "--vm", "win10")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	<-e.started
	srv.Stop()
	err := cmd.Wait()
	t.Logf("stdout:\n%sstderr:\n%s", stdout.String(), stderr.String())
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("frostctl events after frostd stopped: %v, want exit 1", err)
	}
	if !strings.Contains(stderr.String(), "lost frostd during the breakpoint events of win10") {
		t.Errorf("stderr does not say frostd was lost")
	}
}
