package integration

import (
	"encoding/binary"
	"testing"

	"github.com/frostvmi/frost/nt"
)

// TestEprocessMembersAgainstReport reads, through the PDB only, the
// _EPROCESS members mini-NT gives a meaning beyond what nt models, and
// compares them with the report's process events and with what nt reads
// elsewhere, on the normal, reorder and assign builds: ExitStatus is
// STATUS_PENDING while a process runs, ImagePathHash and
// SectionBaseAddress as the kernel reported them, ActiveThreads the
// threads nt lists, the ProcessInserted flag set for every listed process,
// and writer.exe's write counters covering the writes it reported.
func TestEprocessMembersAgainstReport(t *testing.T) {
	eachBuild(t, 141, func(t *testing.T, ka *kernelAt) {
		sym := ka.k.Symbols()
		read := func(p nt.Process, path string) uint64 {
			t.Helper()
			f, err := sym.Field("_EPROCESS." + path)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 8)
			if err := ka.k.ReadVirtual(ka.k.DTB(), p.EPROCESS+f.Offset, buf[:f.Size]); err != nil {
				t.Fatalf("%s: _EPROCESS.%s: %v", p.Name, path, err)
			}
			v := binary.LittleEndian.Uint64(buf)
			if f.BitLength != 0 {
				v = v >> f.BitPosition & (1<<f.BitLength - 1)
			}
			return v
		}
		procs, err := ka.k.Processes()
		if err != nil {
			t.Fatal(err)
		}
		reported := map[uint64]bool{}
		for _, e := range ka.rep.All("process") {
			pid := uintField(t, e, "pid")
			reported[pid] = true
			var p nt.Process
			for _, q := range procs {
				if q.PID == pid {
					p = q
				}
			}
			if p.EPROCESS == 0 {
				t.Errorf("pid %d: reported, not in PsActiveProcessHead", pid)
				continue
			}
			for _, c := range []struct {
				field, key string
			}{{"ExitStatus", "exit-status"}, {"ImagePathHash", "image-path-hash"}, {"SectionBaseAddress", "section-base"}} {
				if got, want := read(p, c.field), uintField(t, e, c.key); got != want {
					t.Errorf("%s: _EPROCESS.%s = %#x, the guest reported %#x", p.Name, c.field, got, want)
				}
			}
			if got := read(p, "ExitStatus"); got != 0x103 {
				t.Errorf("%s runs, but its ExitStatus is %#x, not STATUS_PENDING", p.Name, got)
			}
			threads, err := ka.k.Threads(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := read(p, "ActiveThreads"); got != uint64(len(threads)) {
				t.Errorf("%s: ActiveThreads %d, nt lists %d threads", p.Name, got, len(threads))
			}
			if read(p, "ProcessInserted") != 1 {
				t.Errorf("%s is in the process list without ProcessInserted", p.Name)
			}
			if p.Name == "writer.exe" {
				writes := uint64(len(ka.rep.All("write")))
				ops, bytes := read(p, "WriteOperationCount"), read(p, "WriteTransferCount")
				if writes == 0 || ops < writes || bytes < ops*uint64(len("frost-writer: message 1 from writer.exe\r\n")) {
					t.Errorf("writer.exe: %d write operations of %d bytes, the guest reported %d writes", ops, bytes, writes)
				}
			}
		}
		if len(reported) != len(procs) {
			t.Errorf("the guest reported %d processes, nt lists %d", len(reported), len(procs))
		}
	})
}
