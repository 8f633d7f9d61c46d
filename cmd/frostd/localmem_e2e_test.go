package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/frostvmi/frost/api"
	"github.com/frostvmi/frost/client"
	"github.com/frostvmi/frost/integration/guest/minint"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// TestLocalMemoryOnMiniNT: on mini-NT under libvirt through the real
// frostd, the Go client maps the guest's RAM file (the descriptor is
// read-only: F_GETFL says O_RDONLY and a writable shared mapping fails),
// reads swapper's pages through its own page walk with the same bytes as
// frostd's ReadVirtual, serves present pages without a gRPC call, sends
// a page that is not present in hardware (a demand-zero PTE, which only
// Windows' rules read) to frostd and still matches it, and reads
// physical memory from the mapping as frostd does.
func TestLocalMemoryOnMiniNT(t *testing.T) {
	guestDir := requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	d := defineDomainWith(ctx, t, conn, minint.Config{GuestDir: guestDir})
	fd := bootedFrostd(ctx, t, buildFrostd(t), t.TempDir(), guestDir, d)
	sw, ok := d.report(t).First("swapper")
	if !ok {
		t.Fatal("no swapper line")
	}
	pid, patBase, dzBase := uint32(uintOf(t, sw, "pid")), uintOf(t, sw, "pattern-base"), uintOf(t, sw, "demand-zero-base")

	checkHandedOutRAM(t, api.LocalMemorySocket(fd.sock), d.name)

	var memCalls atomic.Int64
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if strings.HasSuffix(method, "/ReadVirtual") || strings.HasSuffix(method, "/ReadPhysical") {
			memCalls.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	local, err := client.Dial(ctx, fd.sock, client.WithDialOptions(grpc.WithUnaryInterceptor(count)))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	remote, err := client.Dial(ctx, fd.sock, client.WithoutLocalMemory())
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	if err := local.LocalMemory(ctx, d.name); err != nil {
		t.Fatalf("the local client gets no mapping: %v", err)
	}

	// Both paths must see the same memory: the guest is paused meanwhile.
	cpu := pb.NewCPUServiceClient(fd.cc)
	if _, err := cpu.Pause(ctx, &pb.PauseRequest{Vm: d.name, Lease: durationpb.New(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	defer cpu.Resume(context.WithoutCancel(ctx), &pb.ResumeRequest{Vm: d.name})

	read := func(c *client.Client, pid uint32, va uint64, buf []byte) error {
		return c.ReadVirtual(ctx, d.name, pid, va, buf)
	}
	mem := pb.NewMemoryServiceClient(fd.cc)

	// Pages valid in hardware (writer's and the kernel's images, as
	// frostd translates them): read through the mapping, no gRPC call.
	writer := pidOf(ctx, t, fd.cc, d.name, "writer.exe")
	valid := validPages(ctx, t, fd.cc, d.name, writer)
	if len(valid) == 0 {
		t.Fatal("no page of writer's or the kernel's images is valid: nothing tests the local walk")
	}
	page, want := make([]byte, 4096), make([]byte, 4096)
	if err := read(local, writer, valid[0], page); err != nil { // learns the DTB
		t.Fatal(err)
	}
	before := memCalls.Load()
	for _, va := range valid {
		if err := read(local, writer, va, page); err != nil {
			t.Fatalf("local read at %#x: %v", va, err)
		}
		if err := read(remote, writer, va, want); err != nil {
			t.Fatalf("frostd's read at %#x: %v", va, err)
		}
		if !bytes.Equal(page, want) {
			t.Errorf("writer's page %#x: the local client's bytes differ from frostd's", va)
		}
	}
	if n := memCalls.Load() - before; n != 0 {
		t.Errorf("%d valid pages read locally asked frostd %d times", len(valid), n)
	}
	t.Logf("%d valid pages of writer's and the kernel's images read locally, the same as frostd's", len(valid))

	// swapper's pattern pages: the memory manager trims them to
	// transition (in RAM, not present in hardware), which only Windows'
	// rules read; the client asks frostd, and the bytes match.
	const pages = 16
	space := &pb.AddressSpace{Space: &pb.AddressSpace_Pid{Pid: pid}}
	states := map[pb.PageState]int{}
	for i := range uint64(pages) {
		tr, err := mem.Translate(ctx, &pb.TranslateRequest{Vm: d.name, Space: space, Address: patBase + i*4096})
		if err != nil {
			t.Fatal(err)
		}
		states[tr.GetProvenance().GetLocation().GetState()]++
	}
	got, want := make([]byte, pages*4096), make([]byte, pages*4096)
	if err := read(local, pid, patBase, got); err != nil { // learns swapper's DTB
		t.Fatal(err)
	}
	clear(got)
	before = memCalls.Load()
	if err := read(local, pid, patBase, got); err != nil {
		t.Fatal(err)
	}
	asked := memCalls.Load() - before
	if err := read(remote, pid, patBase, want); err != nil {
		t.Fatal(err)
	}
	t.Logf("swapper's %d pattern pages by state %v; the local read asked frostd %d times", pages, states, asked)
	if !bytes.Equal(got, want) {
		t.Error("the local client's read of swapper's pattern differs from frostd's")
	}
	for i := range uint64(pages) {
		if !bytes.Equal(got[i*4096:(i+1)*4096], patternPage(i)) {
			t.Errorf("pattern page %d is not the pattern", i)
		}
	}
	if states[pb.PageState_PAGE_STATE_TRANSITION] > 0 && asked == 0 {
		t.Error("transition pages were served without asking frostd")
	}

	// A demand-zero page: no hardware translation, so frostd's answer.
	tr, err := mem.Translate(ctx, &pb.TranslateRequest{Vm: d.name, Space: space, Address: dzBase})
	if err != nil {
		t.Fatal(err)
	}
	if st := tr.GetProvenance().GetLocation().GetState(); st == pb.PageState_PAGE_STATE_VALID {
		t.Fatalf("swapper's demand-zero page at %#x is valid (%v)", dzBase, st)
	}
	got, want = make([]byte, 8192), make([]byte, 8192)
	before = memCalls.Load()
	errL := read(local, pid, dzBase-4096, got) // the page before, then the demand-zero one
	errR := read(remote, pid, dzBase-4096, want)
	if (errL == nil) != (errR == nil) || !bytes.Equal(got, want) {
		t.Errorf("across the demand-zero page: local %v, frostd %v, bytes equal %v", errL, errR, bytes.Equal(got, want))
	}
	if memCalls.Load() == before {
		t.Error("a page that is not present in hardware was served without asking frostd")
	}
	var pe *client.PartialError
	if errors.As(errL, &pe) {
		t.Logf("partial: %v", pe)
	}

	// Physical: the first pattern page's frame, from the mapping.
	tr, err = mem.Translate(ctx, &pb.TranslateRequest{Vm: d.name, Space: space, Address: patBase})
	if err != nil {
		t.Fatal(err)
	}
	pa := tr.GetProvenance().GetLocation().GetAddress() &^ 0xfff
	got, want = make([]byte, 3*4096), make([]byte, 3*4096)
	before = memCalls.Load()
	if err := local.ReadPhysical(ctx, d.name, pa, got); err != nil {
		t.Fatal(err)
	}
	if memCalls.Load() != before {
		t.Error("a physical read of RAM asked frostd")
	}
	if err := remote.ReadPhysical(ctx, d.name, pa, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("ReadPhysical at %#x: the mapping and frostd differ", pa)
	}
	if !strings.Contains(fd.output(), "handed out guest RAM read-only") {
		t.Error("frostd logged no hand-out of guest RAM")
	}
	t.Run("python", func(t *testing.T) {
		if _, err := exec.LookPath("grpc_python_plugin"); err != nil {
			unavailable(t, "grpc_python_plugin not found (Debian's protobuf-compiler-grpc; make deps)")
		}
		example, err := filepath.Abs(filepath.Join("..", "..", "examples", "python"))
		if err != nil {
			t.Fatal(err)
		}
		gen := t.TempDir()
		gs := exec.Command("./generate.sh", gen)
		gs.Dir = example
		if out, err := gs.CombinedOutput(); err != nil {
			t.Fatalf("generate.sh: %v\n%s", err, out)
		}
		checkPythonLocalMemory(t, example, gen, fd.sock, d.name)
	})
}

// checkHandedOutRAM speaks the side socket's protocol by hand and checks
// the descriptor frostd sends is read-only: its F_GETFL and a writable
// shared mapping say so.
func checkHandedOutRAM(t *testing.T, sock, vm string) {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	uc := conn.(*net.UnixConn)
	req, _ := json.Marshal(api.LocalMemRequest{Version: api.LocalMemVersion, VM: vm})
	if _, err := uc.Write(append(req, '\n')); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 64<<10), make([]byte, syscall.CmsgSpace(16))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(bytes.NewReader(buf[:n])).ReadBytes('\n')
	if err != nil {
		t.Fatalf("reply %q: %v", buf[:n], err)
	}
	var rep api.LocalMemReply
	if err := json.Unmarshal(line, &rep); err != nil || rep.Code != "" {
		t.Fatalf("reply %s: %v", line, err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v: %v", msgs, err)
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("descriptors %v: %v", fds, err)
	}
	defer syscall.Close(fds[0])
	fl, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[0]), syscall.F_GETFL, 0)
	if errno != 0 || fl&syscall.O_ACCMODE != syscall.O_RDONLY {
		t.Errorf("F_GETFL %#x (%v): the RAM descriptor is not O_RDONLY", fl, errno)
	}
	if m, err := syscall.Mmap(fds[0], 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED); err == nil {
		syscall.Munmap(m)
		t.Error("the RAM descriptor maps writable and shared")
	}
	t.Logf("frostd handed out %s of %d MiB, %d ranges", rep.Kind, rep.Size>>20, len(rep.Ranges))
}

// pidOf finds a process by name.
func pidOf(ctx context.Context, t testing.TB, cc *grpc.ClientConn, vm, name string) uint32 {
	t.Helper()
	ps, err := pb.NewProcessServiceClient(cc).ListProcesses(ctx, &pb.ListProcessesRequest{Vm: vm})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps.GetProcesses() {
		if strings.EqualFold(p.GetName(), name) && !p.GetExited() {
			return p.GetPid()
		}
	}
	t.Fatalf("no process %s", name)
	return 0
}

// validPages lists the pages of pid's images and the kernel's that frostd
// translates as valid in pid's address space: pages present in hardware,
// which a local client serves from its mapping.
func validPages(ctx context.Context, t testing.TB, cc *grpc.ClientConn, vm string, pid uint32) []uint64 {
	t.Helper()
	procs, mem := pb.NewProcessServiceClient(cc), pb.NewMemoryServiceClient(cc)
	var mods []*pb.Module
	for _, req := range []*pb.ListModulesRequest{
		{Vm: vm, Scope: &pb.ListModulesRequest_Pid{Pid: pid}},
		{Vm: vm, Scope: &pb.ListModulesRequest_Kernel{Kernel: true}},
	} {
		r, err := procs.ListModules(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, r.GetModules()...)
	}
	space := &pb.AddressSpace{Space: &pb.AddressSpace_Pid{Pid: pid}}
	var out []uint64
	for _, m := range mods {
		for va := m.GetBase() &^ 0xfff; va < m.GetBase()+min(m.GetSize(), 16<<20); va += 4096 {
			tr, err := mem.Translate(ctx, &pb.TranslateRequest{Vm: vm, Space: space, Address: va})
			if err != nil {
				t.Fatal(err)
			}
			if tr.GetProvenance().GetLocation().GetState() == pb.PageState_PAGE_STATE_VALID {
				out = append(out, va)
			}
		}
	}
	return out
}
