package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// leaseCPU counts renewals and resumes; a renewal fails once lapsed.
type leaseCPU struct {
	pb.CPUServiceClient
	renewed chan string
	resumes atomic.Int32
	lapsed  bool
}

func (f *leaseCPU) Pause(_ context.Context, req *pb.PauseRequest, _ ...grpc.CallOption) (*pb.PauseResponse, error) {
	if f.lapsed {
		return nil, status.Error(codes.FailedPrecondition, "lease l-1 lapsed")
	}
	select {
	case f.renewed <- req.GetLeaseId():
	default:
	}
	return &pb.PauseResponse{LeaseId: req.GetLeaseId(), Lease: req.GetLease()}, nil
}

func (f *leaseCPU) Resume(context.Context, *pb.ResumeRequest, ...grpc.CallOption) (*pb.ResumeResponse, error) {
	f.resumes.Add(1)
	return &pb.ResumeResponse{}, nil
}

func keepFirst() *pb.PauseResponse {
	return &pb.PauseResponse{Stop: goldenStop(), WasRunning: true, LeaseId: "l-1", Lease: durationpb.New(30 * time.Millisecond)}
}

// TestPauseKeepRenewsThenResumes: pause --keep renews its own lease until
// its input ends, then resumes the guest once.
func TestPauseKeepRenewsThenResumes(t *testing.T) {
	cpu := &leaseCPU{renewed: make(chan string, 1)}
	var out bytes.Buffer
	c := &cli{out: &out, errOut: io.Discard, vm: "win10"}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- c.keepPaused(context.Background(), cpu, keepFirst(), pr) }()
	for i := 0; i < 2; i++ {
		select {
		case id := <-cpu.renewed:
			if id != "l-1" {
				t.Fatalf("renewed lease %q, want l-1", id)
			}
		case err := <-done:
			t.Fatalf("keepPaused ended before renewing: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("no renewal")
		}
	}
	if n := cpu.resumes.Load(); n != 0 {
		t.Fatalf("resumed %d times while input was open", n)
	}
	pw.Close() // end of input
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := cpu.resumes.Load(); n != 1 {
		t.Errorf("resumed %d times at end of input, want 1", n)
	}
	if s := out.String(); !strings.Contains(s, "paused under lease l-1") || !strings.Contains(s, "win10 running") {
		t.Errorf("output:\n%s", s)
	}
}

// TestPauseKeepResumesOnInterrupt: ^C (the context ending) resumes too.
func TestPauseKeepResumesOnInterrupt(t *testing.T) {
	cpu := &leaseCPU{renewed: make(chan string, 1)}
	c := &cli{out: io.Discard, errOut: io.Discard, vm: "win10"}
	pr, _ := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.keepPaused(ctx, cpu, keepFirst(), pr); err != nil {
		t.Fatal(err)
	}
	if n := cpu.resumes.Load(); n != 1 {
		t.Errorf("resumed %d times on interrupt, want 1", n)
	}
}

// TestPauseKeepLapsed: a renewal frostd refuses (the lease lapsed, or a
// resume ended it) is an error that says the guest may have run, and
// frostctl does not resume a guest that is no longer its to resume.
func TestPauseKeepLapsed(t *testing.T) {
	cpu := &leaseCPU{lapsed: true}
	c := &cli{out: io.Discard, errOut: io.Discard, vm: "win10"}
	pr, _ := io.Pipe()
	err := c.keepPaused(context.Background(), cpu, keepFirst(), pr)
	if err == nil || !strings.Contains(err.Error(), "renewing lease l-1") || !strings.Contains(err.Error(), "may have resumed") {
		t.Fatalf("a lapsed lease: %v", err)
	}
	if n := cpu.resumes.Load(); n != 0 {
		t.Errorf("resumed %d times after the lease lapsed", n)
	}
}
