package api_test

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/frostvmi/frost/api"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/qemu"
)

// The API end to end on a real mini-NT under QEMU/TCG, through gRPC only:
// the handlers over vmi's Target and nt's kernel model. (Attaching through
// libvirt is vmi.AttachDomain's own test; here the Target is OpenQEMU's.)

func guestDir(t *testing.T) string {
	t.Helper()
	skip := func(why string) {
		if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		skip("qemu-system-x86_64 not found (make deps)")
	}
	dir, _ := filepath.Abs("../integration/guest/out")
	if _, err := os.Stat(filepath.Join(dir, "ntkrnlmp.pdb")); err != nil {
		skip("the guest is not built (make guest)")
	}
	return dir
}

func TestAPIOnMiniNT(t *testing.T) {
	dir := guestDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	m, err := qemu.Start(ctx, qemu.Config{GuestDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	tg, err := vmi.OpenQEMU(ctx, m, vmi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close(context.Background())
	if err := tg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	reg := api.NewRegistry(nil)
	if err := reg.Add(&api.VM{Name: "mini-nt", Target: tg}); err != nil {
		t.Fatal(err)
	}
	cc := serve(t, api.Config{Registry: reg, Symbols: st})
	report, err := m.Report()
	if err != nil {
		t.Fatal(err)
	}

	// ps: the guest's processes, with the pids it reports.
	procs, err := pb.NewProcessServiceClient(cc).ListProcesses(ctx, &pb.ListProcessesRequest{Vm: "mini-nt"})
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]uint32{}
	for _, p := range procs.GetProcesses() {
		pids[p.GetName()] = p.GetPid()
	}
	for _, ev := range report {
		if ev.Name != "process" {
			continue
		}
		pid, _ := ev.Uint("pid")
		if got, ok := pids[ev.Get("name")]; !ok || uint64(got) != pid {
			t.Errorf("ListProcesses: %s has pid %d (present %v), the guest says %d", ev.Get("name"), got, ok, pid)
		}
	}
	for _, name := range []string{"swapper.exe", "writer.exe", "csrss.exe"} {
		if _, ok := pids[name]; !ok {
			t.Errorf("ListProcesses lacks %s: %v", name, pids)
		}
	}

	// A swapper pattern page, whole, against the pattern the guest wrote.
	var base uint64
	for _, ev := range report {
		if ev.Name == "swapper" {
			base, _ = ev.Uint("pattern-base")
		}
	}
	mem := pb.NewMemoryServiceClient(cc)
	space := &pb.AddressSpace{Space: &pb.AddressSpace_Pid{Pid: pids["swapper.exe"]}}
	rd, err := mem.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: "mini-nt", Space: space, Address: base + 3*4096, Length: 4096})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 4096)
	binary.LittleEndian.PutUint64(want, 0x46524F5354000000|3)
	for j := uint64(1); j < 512; j++ {
		binary.LittleEndian.PutUint64(want[j*8:], 3<<32|(j*0x9E3779B1)&0xffffffff)
	}
	if string(rd.GetData()) != string(want) || len(rd.GetPages()) != 1 || !rd.GetPages()[0].GetServed() {
		t.Errorf("ReadVirtual of swapper's pattern page 3: pages %v, data differs: %v", rd.GetPages(), string(rd.GetData()) != string(want))
	}

	// vtop shows the steps.
	tr, err := mem.Translate(ctx, &pb.TranslateRequest{Vm: "mini-nt", Space: space, Address: base + 3*4096})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.GetProvenance().GetSteps()) < 4 || !strings.Contains(tr.GetProvenance().GetText(), "pte") {
		t.Errorf("Translate: %d steps, text:\n%s", len(tr.GetProvenance().GetSteps()), tr.GetProvenance().GetText())
	}

	// Symbols of the VM's kernel: resolve, and an unknown name is NotFound.
	sym := pb.NewSymbolServiceClient(cc)
	scope := &pb.SymbolScope{Scope: &pb.SymbolScope_Vm{Vm: "mini-nt"}}
	res, err := sym.ResolveSymbol(ctx, &pb.ResolveSymbolRequest{Scope: scope, Symbol: "nt!NtWriteFile"})
	if err != nil {
		t.Fatal(err)
	}
	var kbase uint64
	for _, ev := range report {
		if ev.Name == "kernel" {
			kbase, _ = ev.Uint("base")
		}
	}
	if res.GetModuleBase() != kbase || res.GetAddress() != kbase+res.GetRva() {
		t.Errorf("ResolveSymbol: %v, the guest's kernel base is %#x", res, kbase)
	}
	_, err = sym.ResolveSymbol(ctx, &pb.ResolveSymbolRequest{Scope: scope, Symbol: "nt!NoSuchThing"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("unknown symbol: %v, want NotFound", err)
	}

	// Threads and drivers come back.
	th, err := pb.NewProcessServiceClient(cc).ListThreads(ctx, &pb.ListThreadsRequest{Vm: "mini-nt"})
	if err != nil || len(th.GetThreads()) == 0 {
		t.Errorf("ListThreads: %d threads, %v", len(th.GetThreads()), err)
	}
	mods, err := pb.NewProcessServiceClient(cc).ListModules(ctx, &pb.ListModulesRequest{Vm: "mini-nt", Scope: &pb.ListModulesRequest_Kernel{Kernel: true}})
	if err != nil || len(mods.GetModules()) == 0 {
		t.Errorf("ListModules: %v, %v", mods, err)
	}

	// The guest still runs: the kernel lookup paused it only for a moment.
	if running, _ := tg.Running(); !running {
		t.Error("the guest was left stopped")
	}
}

func serve(t *testing.T, cfg api.Config) *grpc.ClientConn {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	api.Register(srv, cfg)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return lis.Dial() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}
