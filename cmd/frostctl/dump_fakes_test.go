package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"

	"github.com/frostvmi/frost/api"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
)

// dumpCPU is a CPUService that records what a dump asks of it, in order
// with the memory streams (see startDumpServer), and serves a register
// file per vCPU with or without the system state.
type dumpCPU struct {
	pb.UnimplementedCPUServiceServer
	mu      sync.Mutex
	running bool
	calls   []string
	system  bool
	onPause func() // runs after the server paused the guest
}

func (d *dumpCPU) record(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, s)
}

func (d *dumpCPU) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.calls...)
}

func (d *dumpCPU) Pause(context.Context, *pb.PauseRequest) (*pb.PauseResponse, error) {
	d.record("pause")
	d.mu.Lock()
	was := d.running
	d.running = false
	d.mu.Unlock()
	if d.onPause != nil {
		d.onPause()
	}
	return &pb.PauseResponse{WasRunning: was}, nil
}

// Hold is frostd's hold as the dump sees it: "pause" when it starts, and
// "resume" when the call ends (the client's end, its cancel or its death),
// only if the guest ran.
func (d *dumpCPU) Hold(stream pb.CPUService_HoldServer) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	resp, _ := d.Pause(stream.Context(), nil)
	release := func() {
		if resp.GetWasRunning() {
			d.Resume(context.Background(), nil)
		}
	}
	if err := stream.Send(&pb.HoldResponse{WasRunning: resp.GetWasRunning()}); err != nil {
		release()
		return err
	}
	ended := make(chan struct{})
	go func() {
		stream.Recv()
		close(ended)
	}()
	select {
	case <-ended:
	case <-stream.Context().Done():
	}
	release()
	return stream.Send(&pb.HoldResponse{Released: true})
}

func (d *dumpCPU) Resume(context.Context, *pb.ResumeRequest) (*pb.ResumeResponse, error) {
	d.record("resume")
	d.mu.Lock()
	d.running = true
	d.mu.Unlock()
	return &pb.ResumeResponse{}, nil
}

// fakeRegs is vCPU i's register file: each value names its register
// and vCPU, so a misplaced field shows.
func fakeRegs(i uint32) map[string]uint64 {
	m := map[string]uint64{}
	for j, n := range []string{"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"} {
		m[n] = uint64(i)<<32 | uint64(j+1)<<8
	}
	m["eflags"], m["cs"], m["ss"], m["ds"], m["es"], m["fs"], m["gs"] = 0x246, 0x10, 0x18, 0x2b, 0x2b, 0x53, 0x2b
	m["fs_base"], m["gs_base"], m["k_gs_base"] = 0x1000+uint64(i), 0xfffff80000100000+uint64(i), 0x7ff000+uint64(i)
	m["cr0"], m["cr2"], m["cr3"], m["cr4"] = 0x80050033, 0xdead0000+uint64(i), 0x1aa000, 0x6f8
	return m
}

func (d *dumpCPU) GetRegisters(_ context.Context, req *pb.GetRegistersRequest) (*pb.GetRegistersResponse, error) {
	d.record("registers")
	resp := &pb.GetRegistersResponse{}
	for i := range uint32(2) {
		r := &pb.Registers{Cpu: i}
		for n, v := range fakeRegs(i) {
			r.Registers = append(r.Registers, &pb.Register{Name: n, Value: v})
		}
		r.Registers = append(r.Registers, &pb.Register{Name: "xmm0", Raw: make([]byte, 16)})
		resp.Cpus = append(resp.Cpus, r)
		if req.GetSystem() && d.system {
			resp.System = append(resp.System, &pb.SystemRegisters{Cpu: i,
				Segments: []*pb.SegmentRegister{
					{Name: "cs", Selector: 0x10, Limit: 0xffffffff, Flags: 0x209b00},
					{Name: "tr", Selector: 0x40, Base: 0xfffff80000200000 + uint64(i), Limit: 0x67, Flags: 0x8b00},
				},
				Gdt: &pb.DescriptorTable{Base: 0xfffff80000300000, Limit: 0x57},
				Idt: &pb.DescriptorTable{Base: 0xfffff80000400000, Limit: 0xfff},
			})
		}
	}
	if req.GetSystem() && !d.system {
		resp.SystemError = "no QEMU monitor"
	}
	return resp, nil
}

// startDumpServer serves api's real MemoryService over the fake guest of
// fakes_test.go (RAM at [0, 0x2000) and [0x3000, 0x4000)) and cpu as the
// CPUService. onChunk, if set, runs before each StreamPhysical message.
// Its listener gives no peer credentials, so frostd refuses to write
// files (logged as "file") and frostctl streams.
func startDumpServer(t *testing.T, cpu *dumpCPU, onChunk func()) string {
	return startDumpServerWith(t, cpu, onChunk, false)
}

// startDumpServerWith is startDumpServer; with creds, its listener is
// frostd's (api.PeerCredentials), so frostd may write the caller's files.
func startDumpServerWith(t *testing.T, cpu *dumpCPU, onChunk func(), creds bool) string {
	t.Helper()
	sock, _ := startDumpServerOver(t, cpu, onChunk, creds, &fakeTarget{ram: dumpRAM(), holeStart: 0x2000, holeEnd: 0x3000})
	return sock
}

// startDumpServerOver is startDumpServerWith over the guest tg; it
// returns the socket and the registry tg is in.
func startDumpServerOver(t *testing.T, cpu *dumpCPU, onChunk func(), creds bool, tg vmi.Target) (string, *session.Registry) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "frostd.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if creds {
		lis = api.PeerCredentials(lis)
	}
	srv := grpc.NewServer(grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if strings.HasSuffix(info.FullMethod, "/Hold") {
			return h(srv, ss) // Hold records itself
		}
		if strings.HasSuffix(info.FullMethod, "/DumpPhysicalToFile") {
			cpu.record("file")
			return h(srv, ss)
		}
		cpu.record("stream")
		return h(srv, chunkHook{ServerStream: ss, before: onChunk})
	}))
	reg := session.NewRegistry(nil, nil)
	addSession(t, reg, &session.Config{}, "win10", tg)
	api.Register(overriding{ServiceRegistrar: srv, skip: map[string]bool{pb.CPUService_ServiceDesc.ServiceName: true}}, api.Config{Registry: reg})
	pb.RegisterCPUServiceServer(srv, cpu)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return path, reg
}

func dumpRAM() []byte {
	ram := make([]byte, 0x4000)
	for i := range ram {
		ram[i] = byte(i)
	}
	copy(ram[0x1000:], "MZ\x90\x00frost guest memory")
	return ram
}

type chunkHook struct {
	grpc.ServerStream
	before func()
}

func (c chunkHook) SendMsg(m any) error {
	if c.before != nil {
		c.before()
	}
	return c.ServerStream.SendMsg(m)
}

// runDump runs frostctl in-process with ctx, as main does with its
// signal context.
func runDump(ctx context.Context, sock string, stdout, stderr *bytes.Buffer, args ...string) int {
	return run(ctx, append([]string{"--addr", sock, "dump", "--vm", "win10"}, args...), stdout, stderr)
}

// coreNote is one note of a core.
type coreNote struct {
	name string
	typ  uint32
	desc []byte
}

// coreNotes reads the notes of f's PT_NOTE segments.
func coreNotes(t *testing.T, f *elf.File) []coreNote {
	t.Helper()
	var out []coreNote
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		for len(b) >= 12 {
			le := binary.LittleEndian
			nsz, dsz, typ := int(le.Uint32(b)), int(le.Uint32(b[4:])), le.Uint32(b[8:])
			nend := 12 + align4(nsz)
			if nend+align4(dsz) > len(b) || nsz == 0 {
				t.Fatalf("note overruns its segment: namesz %d descsz %d of %d bytes", nsz, dsz, len(b))
			}
			out = append(out, coreNote{name: string(b[12 : 12+nsz-1]), typ: typ, desc: b[nend : nend+dsz]})
			b = b[nend+align4(dsz):]
		}
	}
	return out
}
