package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/frostvmi/frost/integration/guest/minint"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/symbols/pdb"
)

// TestUserModeOnLibvirt is issue 16's checks through a real frostd on
// mini-NT: symbols of every module (a process's DLLs and executable from
// their PDBs, found by the RSDS identity in memory; then from their export
// tables when the store lacks the PDB), user-mode breakpoints filtered to
// one process on a DLL page every process shares, and break on return
// from user code. The guest's PDBs and its own serial report are the
// independent account.
func TestUserModeOnLibvirt(t *testing.T) {
	guestDir := requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
	d := defineDomain(ctx, t, conn, guestDir)
	dir := t.TempDir()
	fd := bootedFrostd(ctx, t, bin, dir, guestDir, d)
	pids := guestPIDs(t, d)
	writer := pids["writer.exe"]
	if writer == 0 {
		t.Fatalf("the guest reported no writer.exe: %v", pids)
	}
	vm := d.name

	t.Run("call stacks", func(t *testing.T) { checkStacks(ctx, t, fd.cc, d, vm, writer) })
	t.Run("symbols from PDBs", func(t *testing.T) {
		checkModuleSymbols(ctx, t, fd.cc, vm, guestDir, writer, pb.SymbolSource_SYMBOL_SOURCE_PDB)
	})
	t.Run("user breakpoint filtered to a process", func(t *testing.T) {
		checkUserBreakpoint(ctx, t, fd.cc, d, vm, writer)
	})
	t.Run("break on return from user code", func(t *testing.T) {
		checkUserReturn(ctx, t, fd.cc, vm, writer)
	})

	t.Run("frostctl symbols --pid, break --return --stack", func(t *testing.T) {
		checkUserModeCLI(t, &ctl{bin: buildFrostctlBinary(t), sock: fd.sock, vm: vm, home: t.TempDir()}, guestDir, writer)
	})

	// A symbol store without the user modules' PDBs: the same names from
	// their export tables, read from guest memory.
	t.Run("symbols from export tables", func(t *testing.T) {
		if _, err := pb.NewVMServiceClient(fd.cc).Detach(ctx, &pb.DetachRequest{Vm: vm}); err != nil {
			t.Fatal(err)
		}
		if err := fd.stop(t); err != nil {
			t.Fatalf("stopping frostd: %v", err)
		}
		kernelOnly := t.TempDir()
		for _, f := range []string{"ntkrnlmp.pdb", "hal.pdb"} {
			if err := os.Symlink(filepath.Join(guestDir, f), filepath.Join(kernelOnly, f)); err != nil {
				t.Fatal(err)
			}
		}
		fd2 := startFrostd(t, bin, t.TempDir(), guestDir, "frostd-2.log", "--symbol-path", kernelOnly)
		defer func() {
			if t.Failed() {
				t.Logf("second frostd's log:\n%s", fd2.output())
			}
		}()
		attach(ctx, t, fd2.cc, vm)
		checkModuleSymbols(ctx, t, fd2.cc, vm, guestDir, writer, pb.SymbolSource_SYMBOL_SOURCE_EXPORTS)
	})
}

// pdbAddress is a symbol's RVA in one of the guest's PDBs.
func pdbAddress(t *testing.T, guestDir, file, name string) uint64 {
	t.Helper()
	tab, err := pdb.Open(filepath.Join(guestDir, file))
	if err != nil {
		t.Fatal(err)
	}
	rva, err := tab.Address(name)
	if err != nil {
		t.Fatalf("%s in %s: %v", name, file, err)
	}
	return rva
}

// moduleBases lists the bases of a process's modules (pid 0: drivers) by
// lower-case name.
func moduleBases(ctx context.Context, t *testing.T, cc *grpc.ClientConn, vm string, pid uint32) map[string]uint64 {
	t.Helper()
	req := &pb.ListModulesRequest{Vm: vm, Scope: &pb.ListModulesRequest_Kernel{Kernel: true}}
	if pid != 0 {
		req.Scope = &pb.ListModulesRequest_Pid{Pid: pid}
	}
	resp, err := pb.NewProcessServiceClient(cc).ListModules(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, m := range resp.GetModules() {
		out[strings.ToLower(m.GetName())] = m.GetBase()
	}
	return out
}

// checkModuleSymbols: module!symbol resolves, and addresses are named
// back, for a process's DLLs and executable and a driver, from the source
// the store allows; every address agrees with the module's base plus the
// PDB's RVA. Names a process does not have, or a user module named
// without a process, are NOT_FOUND with the reason.
func checkModuleSymbols(ctx context.Context, t *testing.T, cc *grpc.ClientConn, vm, guestDir string, writer uint32, userSource pb.SymbolSource) {
	t.Helper()
	sym := pb.NewSymbolServiceClient(cc)
	user := moduleBases(ctx, t, cc, vm, writer)
	drivers := moduleBases(ctx, t, cc, vm, 0)
	scope := &pb.SymbolScope{Scope: &pb.SymbolScope_Vm{Vm: vm}}
	cases := []struct {
		query        string
		pid          uint32
		base         uint64
		pdbFile, fn  string
		source       pb.SymbolSource
		wantModule   string
		exportedOnly bool
	}{
		{"ntdll!NtWriteFile", writer, user["ntdll.dll"], "ntdll.pdb", "NtWriteFile", userSource, "ntdll", true},
		{"frostrt!FrostWriteMessage", writer, user["frostrt.dll"], "frostrt.pdb", "FrostWriteMessage", userSource, "frostrt", true},
		{"hal!HalInitSystem", 0, drivers["hal.dll"], "hal.pdb", "HalInitSystem", pb.SymbolSource_SYMBOL_SOURCE_PDB, "hal", false},
		{"nt!NtWriteFile", writer, drivers["ntoskrnl.exe"], "ntkrnlmp.pdb", "NtWriteFile", pb.SymbolSource_SYMBOL_SOURCE_PDB, "nt", false},
	}
	if userSource == pb.SymbolSource_SYMBOL_SOURCE_PDB {
		// Not exported: only the PDB has it.
		cases = append(cases, struct {
			query        string
			pid          uint32
			base         uint64
			pdbFile, fn  string
			source       pb.SymbolSource
			wantModule   string
			exportedOnly bool
		}{"writer!NtProcessStartup", writer, user["writer.exe"], "writer.pdb", "NtProcessStartup", userSource, "writer", false})
	}
	for _, c := range cases {
		if c.base == 0 {
			t.Errorf("%s: the module is not listed (process modules %v, drivers %v)", c.query, user, drivers)
			continue
		}
		want := c.base + pdbAddress(t, guestDir, c.pdbFile, c.fn)
		got, err := sym.ResolveSymbol(ctx, &pb.ResolveSymbolRequest{Scope: scope, Symbol: c.query, Pid: c.pid})
		if err != nil {
			t.Errorf("ResolveSymbol(%s, pid %d): %v", c.query, c.pid, err)
			continue
		}
		if got.GetAddress() != want || got.GetModuleBase() != c.base || got.GetSource() != c.source || got.GetModule() != c.wantModule {
			t.Errorf("ResolveSymbol(%s): %#x in %s at %#x from %v; want %#x in %s at %#x from %v",
				c.query, got.GetAddress(), got.GetModule(), got.GetModuleBase(), got.GetSource(), want, c.wantModule, c.base, c.source)
		}
		if c.source == pb.SymbolSource_SYMBOL_SOURCE_PDB && got.GetPdb().GetPdbName() != c.pdbFile {
			t.Errorf("ResolveSymbol(%s): PDB %v, want %s", c.query, got.GetPdb(), c.pdbFile)
		}
		// Reverse: an address inside the function names it, +offset.
		name, err := sym.LookupAddress(ctx, &pb.LookupAddressRequest{Scope: scope, Address: want + 3, Pid: c.pid})
		wantName := fmt.Sprintf("%s!%s+0x3", c.wantModule, c.fn)
		if err != nil || name.GetName() != wantName || name.GetSource() != c.source {
			t.Errorf("LookupAddress(%#x): %q from %v (%v), want %q from %v", want+3, name.GetName(), name.GetSource(), err, wantName, c.source)
		}
	}
	// A DLL's own types, from its PDB.
	if userSource == pb.SymbolSource_SYMBOL_SOURCE_PDB {
		ty, err := sym.GetType(ctx, &pb.GetTypeRequest{Scope: scope, Module: "frostrt", Name: "_FROST_USER_STACK", Pid: writer})
		names := map[string]bool{}
		for _, m := range ty.GetMembers() {
			names[m.GetName()] = true
		}
		if err != nil || ty.GetKind() != "struct" || !names["Frames"] || !names["Depth"] {
			t.Errorf("GetType(frostrt, _FROST_USER_STACK, pid %d) = %v, %v", writer, ty, err)
		}
	}
	// Offsets, and the misses.
	if got, err := sym.ResolveSymbol(ctx, &pb.ResolveSymbolRequest{Scope: scope, Symbol: "ntdll!NtWriteFile+0x10", Pid: writer}); err != nil ||
		got.GetAddress() != user["ntdll.dll"]+pdbAddress(t, guestDir, "ntdll.pdb", "NtWriteFile")+0x10 {
		t.Errorf("ResolveSymbol(ntdll!NtWriteFile+0x10): %v (%v)", got, err)
	}
	for _, miss := range []struct {
		query  string
		pid    uint32
		reason pb.ErrorReason
	}{
		{"nosuchdll!Foo", writer, pb.ErrorReason_ERROR_REASON_MODULE_NOT_FOUND},
		{"ntdll!NtWriteFile", 0, pb.ErrorReason_ERROR_REASON_MODULE_NOT_FOUND},
		{"ntdll!NoSuchFunction", writer, pb.ErrorReason_ERROR_REASON_SYMBOL_NOT_FOUND},
	} {
		_, err := sym.ResolveSymbol(ctx, &pb.ResolveSymbolRequest{Scope: scope, Symbol: miss.query, Pid: miss.pid})
		if status.Code(err) != codes.NotFound || reasonOf(err) != miss.reason {
			t.Errorf("ResolveSymbol(%s, pid %d): %v, want NotFound with %v", miss.query, miss.pid, err, miss.reason)
		}
	}
}

// reasonOf is an API error's reason.
func reasonOf(err error) pb.ErrorReason {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if e, ok := d.(*pb.ErrorDetail); ok {
			return e.GetReason()
		}
	}
	return pb.ErrorReason_ERROR_REASON_UNSPECIFIED
}

// subscribeUser arms spec on a stream and returns it with its first
// message checked.
func subscribeUser(ctx context.Context, t *testing.T, cc *grpc.ClientConn, req *pb.SubscribeRequest) (pb.BreakpointService_SubscribeClient, *pb.Subscribed) {
	t.Helper()
	stream, err := pb.NewBreakpointServiceClient(cc).Subscribe(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	sub := first.GetSubscribed()
	if sub == nil || len(sub.GetBreakpoints()) != len(req.GetBreakpoints()) {
		t.Fatalf("first message: %v", first)
	}
	return stream, sub
}

// nextHit is the stream's next hit, failing on anything else.
func nextHit(t *testing.T, stream pb.BreakpointService_SubscribeClient) *pb.BreakpointHit {
	t.Helper()
	for {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if h := ev.GetHit(); h != nil {
			return h
		}
		t.Logf("event: %v", ev)
	}
}

// checkUserBreakpoint: a breakpoint on ntdll!NtWriteFile, a page of
// ntdll's image view that every process maps, filtered to writer.exe,
// reports writer's calls only, named ntdll!NtWriteFile; the other
// process that calls it meanwhile (its own report says so) is not
// reported.
func checkUserBreakpoint(ctx context.Context, t *testing.T, cc *grpc.ClientConn, d *testDomain, vm string, writer uint32) {
	t.Helper()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, sub := subscribeUser(sctx, t, cc, &pb.SubscribeRequest{Vm: vm, Breakpoints: []*pb.BreakpointSpec{{
		Location: &pb.BreakpointSpec_Symbol{Symbol: "ntdll!NtWriteFile"},
		Filter:   &pb.BreakpointFilter{Pids: []uint32{writer}},
	}}})
	bp := sub.GetBreakpoints()[0]
	if bp.GetSymbol() != "ntdll!NtWriteFile" || bp.GetAddress() >= 1<<47 {
		t.Errorf("armed: %v", bp)
	}
	// Hits until csrss (once a second) has run the same function at least
	// once meanwhile, so the filter is put to the test: 4 at least, 60 at
	// most (writer writes every 250 ms).
	others := sharedCalls(t, d)
	for i := 0; i < 60 && (i < 4 || sharedCalls(t, d) <= others); i++ {
		h := nextHit(t, stream)
		if h.GetPid() != writer || h.GetSymbol() != "ntdll!NtWriteFile" || h.GetAddress() != bp.GetAddress() ||
			h.GetSymbolSource() != pb.SymbolSource_SYMBOL_SOURCE_PDB {
			t.Errorf("hit %d: pid %d (%s) at %#x %q from %v; want writer.exe (%d) at %#x ntdll!NtWriteFile from its PDB",
				i, h.GetPid(), h.GetProcessName(), h.GetAddress(), h.GetSymbol(), h.GetSymbolSource(), writer, bp.GetAddress())
		}
	}
	if after := sharedCalls(t, d); after <= others {
		t.Errorf("the guest reports no call of the shared function by another process while subscribed (%d, then %d): the filter was not put to the test", others, after)
	}
}

// checkUserReturn: break_on_return at ntdll!NtWriteFile in writer.exe
// stops at the call's return in frostrt.dll, on the same thread, with the
// stack popped past the call and NtWriteFile's status in rax.
func checkUserReturn(ctx context.Context, t *testing.T, cc *grpc.ClientConn, vm string, writer uint32) {
	t.Helper()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, sub := subscribeUser(sctx, t, cc, &pb.SubscribeRequest{Vm: vm, Hold: true, HoldDeadline: durationpb.New(10 * time.Second),
		Breakpoints: []*pb.BreakpointSpec{{
			Location:      &pb.BreakpointSpec_Symbol{Symbol: "ntdll!NtWriteFile"},
			Filter:        &pb.BreakpointFilter{Pids: []uint32{writer}},
			BreakOnReturn: true,
		}}})
	bpc := pb.NewBreakpointServiceClient(cc)
	id := sub.GetBreakpoints()[0].GetId()
	ack := func(h *pb.BreakpointHit) {
		if _, err := bpc.Ack(ctx, &pb.AckRequest{Vm: vm, SubscriptionId: sub.GetSubscriptionId(), Sequence: h.GetSequence()}); err != nil {
			t.Errorf("Ack: %v", err)
		}
	}
	for i := 0; i < 2; i++ {
		call := nextHit(t, stream)
		regs := registers(call.GetRegisters())
		ack(call)
		ret := nextHit(t, stream)
		ack(ret)
		if call.GetReturnOf() != 0 || ret.GetReturnOf() != id || ret.GetCallRsp() != regs["rsp"] {
			t.Fatalf("call %d: the call says return_of %d; the next hit says return_of %d call_rsp %#x; want 0, then %d and %#x",
				i, call.GetReturnOf(), ret.GetReturnOf(), ret.GetCallRsp(), id, regs["rsp"])
		}
		rr := registers(ret.GetRegisters())
		if ret.GetPid() != writer || ret.GetTid() != call.GetTid() || rr["rsp"] != regs["rsp"]+8 || rr["rax"]&0xffffffff != 0 ||
			!strings.HasPrefix(ret.GetSymbol(), "frostrt!") || ret.GetAddress() >= 1<<47 {
			t.Errorf("return %d: pid %d tid %d rsp %#x rax %#x at %#x %q; want writer's thread %d, rsp %#x, STATUS_SUCCESS, in frostrt",
				i, ret.GetPid(), ret.GetTid(), rr["rsp"], rr["rax"], ret.GetAddress(), ret.GetSymbol(), call.GetTid(), regs["rsp"]+8)
		}
	}
}

// sharedCalls counts the guest's reports of another process calling the
// DLL function writer.exe's breakpoint is on.
func sharedCalls(t *testing.T, d *testDomain) int {
	t.Helper()
	return len(d.report(t).All("csrss-write"))
}

// checkStacks: at writer.exe's NtWriteFile and, deeper, at FsWrite, the
// stack frostd unwinds at a breakpoint equals, frame for frame, the chain
// mini-NT recorded itself (every write takes the same chain at the same
// stack pointers), from the service through the system call's machine
// frame to writer's first frame, where the walk ends; every frame is
// named from its module's PDB. GetStack on a held hit says the same.
func checkStacks(ctx context.Context, t *testing.T, cc *grpc.ClientConn, d *testDomain, vm string, writer uint32) {
	t.Helper()
	for _, at := range []string{"NtWriteFile", "FsWrite"} {
		want, err := d.report(t).Stack(at, 3)
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		stream, sub := subscribeUser(sctx, t, cc, &pb.SubscribeRequest{Vm: vm, Stack: true, Hold: true,
			HoldDeadline: durationpb.New(20 * time.Second),
			Breakpoints: []*pb.BreakpointSpec{{
				Location: &pb.BreakpointSpec_Symbol{Symbol: "nt!" + at},
				Filter:   &pb.BreakpointFilter{Pids: []uint32{writer}},
			}}})
		h := nextHit(t, stream)
		compareStack(t, "hit at nt!"+at, h.GetStack(), want)
		// The same vCPU, still held: GetStack unwinds it again.
		gs, err := pb.NewCPUServiceClient(cc).GetStack(ctx, &pb.GetStackRequest{Vm: vm})
		if err != nil {
			t.Errorf("GetStack at a held hit: %v", err)
		} else {
			if gs.GetPid() != writer || gs.GetProcessName() != "writer.exe" {
				t.Errorf("GetStack names pid %d (%s), want writer.exe (%d)", gs.GetPid(), gs.GetProcessName(), writer)
			}
			compareStack(t, "GetStack at nt!"+at, gs.GetStack(), want)
		}
		if _, err := pb.NewBreakpointServiceClient(cc).Ack(ctx, &pb.AckRequest{Vm: vm, SubscriptionId: sub.GetSubscriptionId(), Sequence: h.GetSequence()}); err != nil {
			t.Errorf("Ack: %v", err)
		}
		cancel()
		waitNoBreakpoints(ctx, t, cc, vm)
	}
}

// compareStack checks an unwound stack against the guest's own chain.
func compareStack(t *testing.T, what string, got *pb.Stack, want minint.Stack) {
	t.Helper()
	var lines []string
	for _, f := range got.GetFrames() {
		lines = append(lines, fmt.Sprintf("  #%d rsp %#x rip %#x %s [%v, %v]", f.GetIndex(), f.GetRsp(), f.GetRip(), f.GetSymbol(), f.GetSource(), f.GetMethod()))
	}
	dump := strings.Join(lines, "\n")
	t.Logf("%s:\n%s", what, dump)
	if got.GetError() != "" || got.GetTruncated() {
		t.Errorf("%s: the walk stopped early: %q (truncated %v)\n%s", what, got.GetError(), got.GetTruncated(), dump)
	}
	frames := got.GetFrames()
	if len(frames) != len(want.Frames) {
		t.Errorf("%s: %d frames, the guest recorded %d (%#x)\n%s", what, len(frames), len(want.Frames), want.Frames, dump)
	}
	kernel := len(want.Kernel())
	for i := range min(len(frames), len(want.Frames)) {
		f := frames[i]
		if f.GetRip() != want.Frames[i] {
			t.Errorf("%s: frame %d at %#x, the guest says %#x\n%s", what, i, f.GetRip(), want.Frames[i], dump)
		}
		if f.GetSource() != pb.SymbolSource_SYMBOL_SOURCE_PDB || f.GetFunction() == "" {
			t.Errorf("%s: frame %d named %q from %v, want a function from its PDB", what, i, f.GetSymbol(), f.GetSource())
		}
		wantMethod := pb.UnwindMethod_UNWIND_METHOD_UNWIND_INFO
		switch {
		case i == 0:
			wantMethod = pb.UnwindMethod_UNWIND_METHOD_CONTEXT
		case i == kernel:
			wantMethod = pb.UnwindMethod_UNWIND_METHOD_MACHINE_FRAME
		case i == kernel+1:
			wantMethod = pb.UnwindMethod_UNWIND_METHOD_LEAF // the ntdll stub
		}
		if f.GetMethod() != wantMethod || f.GetUserMode() != (i >= kernel) {
			t.Errorf("%s: frame %d reached by %v (user %v), want %v (user %v)", what, i, f.GetMethod(), f.GetUserMode(), wantMethod, i >= kernel)
		}
	}
	if len(frames) > kernel {
		if frames[0].GetRsp() != want.SP || frames[kernel].GetRsp() != want.UserSP {
			t.Errorf("%s: rsp %#x at the service and %#x in user mode; the guest says %#x and %#x", what, frames[0].GetRsp(), frames[kernel].GetRsp(), want.SP, want.UserSP)
		}
		if !strings.HasPrefix(frames[kernel].GetSymbol(), "ntdll!NtWriteFile+") {
			t.Errorf("%s: the first user frame is %q, want ntdll's NtWriteFile stub", what, frames[kernel].GetSymbol())
		}
	}
}

// TestStacksReorderedOnLibvirt: the call-stack comparison on the
// "reorder" build, whose every structure and global lies elsewhere and
// whose functions are laid out anew: the unwinder works from that build's
// own .pdata and PDB, not from anything learnt of the normal one.
func TestStacksReorderedOnLibvirt(t *testing.T) {
	guestDir := requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
	reorder := filepath.Join(guestDir, "reorder")
	d := defineDomainWith(ctx, t, conn, minint.Config{GuestDir: guestDir, Kernel: filepath.Join(reorder, "ntoskrnl.exe"), WriterPeriodMS: 250})
	// The reordered kernel's PDB first; the user images' beside it.
	fd := startFrostd(t, bin, t.TempDir(), guestDir, "frostd.log", "--symbol-path", reorder+";"+guestDir)
	defer func() {
		if t.Failed() {
			t.Logf("frostd log:\n%s", fd.output())
		}
	}()
	if st := bootWithWinboot(ctx, t, fd.cc, d); !st.GetSuccess() {
		t.Fatalf("boot: %v", st)
	}
	d.waitSerial(t, "ready", func(l string) bool { return strings.Contains(l, "frost-guest: ready") })
	writer := guestPIDs(t, d)["writer.exe"]
	checkStacks(ctx, t, fd.cc, d, d.name, writer)
}

// checkUserModeCLI runs the new flags through the built frostctl:
// symbols --pid resolves and names a DLL's function from its PDB; break
// --return --stack on ntdll!NtWriteFile in writer.exe prints the call with
// its stack, then the return into frostrt.
func checkUserModeCLI(t *testing.T, c *ctl, guestDir string, writer uint32) {
	t.Helper()
	pid := fmt.Sprint(writer)
	out := c.must(t, "symbols", "--pid", pid, "resolve", "ntdll!NtWriteFile")
	if !strings.Contains(out, "ntdll!NtWriteFile = ") || !strings.Contains(out, "from pdb") {
		t.Errorf("symbols --pid resolve:\n%s", out)
	}
	addr := strings.Fields(strings.SplitN(out, " = ", 2)[1])[0]
	a, err := strconv.ParseUint(strings.ReplaceAll(addr, "`", ""), 16, 64)
	if err != nil {
		t.Fatalf("address %q in %q: %v", addr, out, err)
	}
	if out := c.must(t, "symbols", "--pid", pid, "lookup", fmt.Sprintf("%x", a+3)); !strings.Contains(out, "ntdll!NtWriteFile+0x3 (from pdb)") {
		t.Errorf("symbols --pid lookup:\n%s", out)
	}
	s := c.stream(t, "break", "ntdll!NtWriteFile", "--pid", pid, "--return", "--stack")
	defer s.stop(t)
	var call, ret, stack bool
	for !(call && ret && stack) {
		line, ok := s.next(guestWait)
		if !ok {
			t.Fatalf("frostctl break --return --stack ended or stalled (call %v, return %v, stack %v)\nstderr:\n%s", call, ret, stack, s.stderr.String())
		}
		switch {
		case strings.Contains(line, " hit #") && strings.Contains(line, "ntdll!NtWriteFile") && strings.Contains(line, "(writer.exe)"):
			call = true
		case call && strings.Contains(line, " return (bp ") && strings.Contains(line, "frostrt!"):
			ret = true
		case call && strings.Contains(line, "writer!NtProcessStartup+"):
			stack = true
		}
	}
}
