package main

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// TestPrintReturnHit: a hit at a call's return (break --return) says so,
// naming the breakpoint whose hit made the call and that call's stack
// pointer; an ordinary hit stays a "hit".
func TestPrintReturnHit(t *testing.T) {
	var b bytes.Buffer
	printEvent(&b, &pb.SubscribeResponse{Event: &pb.SubscribeResponse_Hit{Hit: &pb.BreakpointHit{
		Sequence: 7, BreakpointId: 12, Symbol: "frostrt!FrostIssueWrite+0xb1", Pid: 88, Tid: 92, ProcessName: "writer.exe",
		ReturnOf: 3, CallRsp: 0x1000e418, Time: timestamppb.Now(),
	}}})
	if got := b.String(); !strings.Contains(got, "return (bp 3's call at rsp 1000e418) to #7 bp 12 frostrt!FrostIssueWrite+0xb1") {
		t.Errorf("return hit printed as:\n%s", got)
	}
	b.Reset()
	printEvent(&b, &pb.SubscribeResponse{Event: &pb.SubscribeResponse_Hit{Hit: &pb.BreakpointHit{Sequence: 6, BreakpointId: 3, Symbol: "ntdll!NtWriteFile", Time: timestamppb.Now()}}})
	if got := b.String(); !strings.Contains(got, " hit #6 bp 3 ntdll!NtWriteFile") {
		t.Errorf("ordinary hit printed as:\n%s", got)
	}
}
