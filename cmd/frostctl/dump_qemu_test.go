package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/frostvmi/frost/api"
	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/integration/guesttest"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/physmem"
	"github.com/frostvmi/frost/vmi/qmp"
)

// Frost's core and QEMU's own dump-guest-memory, taken at the same stop of
// mini-NT on two vCPUs, hold the same CPU notes: names, types, sizes and
// the register values (every QEMUCPUState field the FROST note calls
// known, and only zeros in the others), and the same bytes in every RAM
// range Frost dumps. QMP is spoken directly: libvirt 9.0's libvirtd
// crashes on the DUMP_COMPLETED event of a dump it did not start.
func TestDumpMatchesQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("boots mini-NT under QEMU")
	}
	m := guesttest.Boot(t, minint.Config{CPUs: 2})
	ctx := guesttest.Context(t)
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	tg, err := vmi.OpenQEMU(ctx, m.Machine, vmi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	qc, err := qmp.Dial(ctx, m.QMPSocket())
	if err != nil {
		t.Fatal(err)
	}
	defer qc.Close()
	reg := session.NewRegistry(nil, nil)
	addSession(t, reg, &session.Config{}, "plain", tg)
	defer reg.CloseAll(context.Background())
	sock := filepath.Join(t.TempDir(), "frostd.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	api.Register(srv, api.Config{Registry: reg})
	go srv.Serve(lis)
	defer srv.Stop()

	// OpenQEMU left the guest stopped. Run it, then stop it once, for
	// both dumps to see the same moment.
	if err := tg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cpu := pb.NewCPUServiceClient(cc)
	if p, err := cpu.Pause(ctx, &pb.PauseRequest{Vm: "plain"}); err != nil || !p.GetWasRunning() {
		t.Fatalf("pause: %v, was running %v", err, p.GetWasRunning())
	}
	dir := t.TempDir()
	qcore := filepath.Join(dir, "qemu.core")
	if err := qc.Execute(ctx, "dump-guest-memory", map[string]any{"paging": false, "protocol": "file:" + qcore}, nil); err != nil {
		t.Fatal(err)
	}
	q := openCore(t, qcore)

	// The target reads segment descriptors and descriptor tables from
	// QEMU's monitor (vmi's SystemRegisters), so every field is known.
	for _, vm := range []string{"plain"} {
		t.Run(vm, func(t *testing.T) {
			fcore := filepath.Join(dir, vm+".core")
			var stdout, stderr bytes.Buffer
			if code := run(ctx, []string{"--addr", sock, "dump", "--vm", vm, "-o", fcore}, &stdout, &stderr); code != 0 {
				t.Fatalf("frostctl dump: exit %d: %s", code, stderr.String())
			}
			if !strings.Contains(stdout.String(), "already stopped, and stays stopped") {
				t.Errorf("stdout: %q", stdout.String())
			}
			compareCores(t, q, openCore(t, fcore), true)
			if out, err := exec.Command("readelf", "-n", fcore).CombinedOutput(); err == nil {
				t.Logf("readelf -n %s:\n%s", vm, out)
			}
		})
	}
	if running, _ := tg.Running(); running {
		t.Error("the dumps of a stopped guest resumed it")
	}
	if _, err := cpu.Resume(ctx, &pb.ResumeRequest{Vm: "plain"}); err != nil {
		t.Fatal(err)
	}
}

func openCore(t *testing.T, path string) *elf.File {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func compareCores(t *testing.T, q, f *elf.File, allKnown bool) {
	t.Helper()
	if f.Machine != q.Machine || f.Class != q.Class || f.Type != q.Type {
		t.Errorf("Frost: %v %v %v; QEMU: %v %v %v", f.Class, f.Machine, f.Type, q.Class, q.Machine, q.Type)
	}
	qn, fn := coreNotes(t, q), coreNotes(t, f)
	if len(fn) != len(qn)+1 || fn[len(fn)-1].name != "FROST" {
		t.Fatalf("Frost has %d notes, QEMU %d: want QEMU's and a FROST note", len(fn), len(qn))
	}
	frost := string(fn[len(fn)-1].desc)
	t.Logf("FROST note:\n%s", frost)
	known := map[string]bool{}
	for line := range strings.SplitSeq(frost, "\n") {
		if list, ok := strings.CutPrefix(line, "qemu-cpu-state-known="); ok {
			for _, k := range strings.Split(list, ",") {
				known[k] = true
			}
		}
	}
	if allKnown != known["tr.base"] || !known["rip"] || !known["cr3"] {
		t.Errorf("known fields %v (system state expected: %v)", known, allKnown)
	}
	for i, want := range qn {
		got := fn[i]
		if got.name != want.name || got.typ != want.typ || len(got.desc) != len(want.desc) {
			t.Errorf("note %d: Frost %s/%d/%d bytes, QEMU %s/%d/%d bytes", i, got.name, got.typ, len(got.desc), want.name, want.typ, len(want.desc))
			continue
		}
		switch want.name {
		case "CORE":
			if !bytes.Equal(got.desc, want.desc) {
				t.Errorf("note %d (NT_PRSTATUS): Frost's bytes differ from QEMU's:\n%x\n%x", i, got.desc, want.desc)
			}
		case "QEMU":
			compareQEMUState(t, i, got.desc, want.desc, known)
		}
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		fb := make([]byte, p.Filesz)
		qb := make([]byte, p.Filesz)
		if _, err := p.ReadAt(fb, 0); err != nil {
			t.Fatal(err)
		}
		if err := readPhysical(q, p.Paddr, qb); err != nil {
			t.Errorf("Frost's range at %#x: %v", p.Paddr, err)
			continue
		}
		for off := 0; off < len(fb); off += 4096 {
			if end := min(off+4096, len(fb)); !bytes.Equal(fb[off:end], qb[off:end]) {
				t.Errorf("page at GPA %#x differs from QEMU's", p.Paddr+uint64(off))
				break
			}
		}
	}
}

// compareQEMUState checks each QEMUCPUState field: equal to QEMU's when
// the FROST note calls it known, zero otherwise.
func compareQEMUState(t *testing.T, i int, got, want []byte, known map[string]bool) {
	t.Helper()
	type field struct {
		name     string
		off, len int
	}
	fields := []field{{"version", 0, 4}, {"size", 4, 4}}
	for j, n := range qemuGeneral {
		fields = append(fields, field{n, 8 + 8*j, 8})
	}
	for j, s := range qemuSegments {
		off := 8 + 18*8 + 24*j
		fields = append(fields, field{s + ".selector", off, 4}, field{s + ".limit", off + 4, 4}, field{s + ".flags", off + 8, 4}, field{s + ".base", off + 16, 8})
	}
	for j := range 5 {
		fields = append(fields, field{"cr" + string(rune('0'+j)), 392 + 8*j, 8})
	}
	fields = append(fields, field{"kernel_gs_base", 432, 8})
	get := func(b []byte, f field) uint64 {
		if f.len == 4 {
			return uint64(binary.LittleEndian.Uint32(b[f.off:]))
		}
		return binary.LittleEndian.Uint64(b[f.off:])
	}
	for _, f := range fields {
		g, w := get(got, f), get(want, f)
		if strings.HasSuffix(f.name, ".flags") {
			// QEMU's monitor shows the attribute bits only; under TCG QEMU
			// keeps descriptor base bits beside them (see dumpnote.go).
			if g&^0x00ffff00 != 0 {
				t.Errorf("note %d: QEMUCPUState.%s = %#x has bits outside 8-23", i, f.name, g)
			}
			w &= 0x00ffff00
		}
		switch {
		case f.name == "version" || f.name == "size" || known[f.name]:
			if g != w {
				t.Errorf("note %d: QEMUCPUState.%s = %#x, QEMU has %#x", i, f.name, g, w)
			}
		case g != 0:
			t.Errorf("note %d: QEMUCPUState.%s = %#x, but the FROST note does not call it known", i, f.name, g)
		}
	}
}

// readPhysical reads guest-physical bytes from a core through its PT_LOADs.
func readPhysical(f *elf.File, gpa uint64, p []byte) error {
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_LOAD && gpa >= prog.Paddr && gpa+uint64(len(p)) <= prog.Paddr+prog.Filesz {
			_, err := prog.ReadAt(p, int64(gpa-prog.Paddr))
			return err
		}
	}
	return &physmem.NotRAMError{GPA: gpa, What: "no PT_LOAD of QEMU's core covers it"}
}
