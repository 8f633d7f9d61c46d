package main

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// frostd no longer launches the bundled test guest (issue 13, item 4): the
// deprecated RPC is answered Unimplemented with the command that replaced
// it, and the flag that fed it is gone rather than left half-wired.
func TestLaunchDemoGuestNamesItsReplacement(t *testing.T) {
	d := startDaemon(t, baseArgs(t)...)
	cc := dialUnix(t, d.addr)
	//lint:ignore SA1019 the test checks what the deprecated RPC answers
	_, err := pb.NewVMServiceClient(cc).LaunchDemoGuest(ctxT(t), &pb.LaunchDemoGuestRequest{Name: "demo"})
	st := status.Convert(err)
	if st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), "minint define") {
		t.Errorf("LaunchDemoGuest = %v, want Unimplemented naming `minint define`", err)
	}
}

func TestGuestDirFlagIsGone(t *testing.T) {
	var stderr bytes.Buffer
	if _, err := parseFlags(append(baseArgs(t), "--guest-dir", "integration/guest/out"), &stderr); err == nil {
		t.Error("parseFlags accepted --guest-dir, which nothing uses any more")
	}
}
