package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/frostvmi/frost/minidump"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/translate"
)

// MaxDumpHold bounds how long a process dump keeps the guest paused: a
// client that stops reading its stream never holds the guest longer.
const MaxDumpHold = 10 * time.Minute

// ErrDumpHoldExpired: the dump took longer than MaxDumpHold and the guest
// was let go.
var ErrDumpHoldExpired = errors.New("the process dump took longer than its hold allows, and the guest was let go")

// ProcessDump is a planned minidump of one process: what it holds, fixed
// before a byte of memory is written. Close lets the guest go; it must be
// called whatever happens (Write failing, a client leaving).
type ProcessDump struct {
	Process nt.Process
	// Live: the guest ran while it was dumped; pages may be from
	// different moments, and thread contexts from trap frames may be
	// stale.
	Live    bool
	Modules []minidump.Module
	Threads []DumpThread
	Pages   PageSummary
	// Sourced lists the pages read from a paging file or a mapped file,
	// with their sources; Unread the committed pages that could not be
	// read, which the file does not hold.
	Sourced, Unread []PageRun
	Plan            *minidump.Plan

	s        *Session
	tr       *translate.Translator
	dtb      uint64
	held     *Held
	deadline time.Time
	sourcing []sourceRun
	// unreadFrom is, per Unread run, the paging file or file its pages
	// were to come from ("" for a state with no bytes): a run of one
	// missing file's pages is one run, named by its first page's reason.
	unreadFrom []string
}

// DumpThread is one thread of a process dump and where its registers
// came from.
type DumpThread struct {
	TID uint64
	// Context says where the thread's registers came from: "vcpu N"
	// (running on a stopped vCPU in user mode), "trap frame at 0x…", or
	// "" when the dump has none for it (Note says why).
	Context string
	RIP     uint64
	// Note says what the context lacks, or why there is none.
	Note string
}

// PlanProcessDump plans a minidump of the process pid. Unless live, it
// first pauses the guest (Hold), which Close undoes; on an error the
// guest is let go before it returns.
func (s *Session) PlanProcessDump(ctx context.Context, pid uint64, live bool) (*ProcessDump, error) {
	k, err := s.Kernel(ctx)
	if err != nil {
		return nil, err
	}
	// An unknown process never stops the guest.
	p, err := k.ProcessByPID(pid)
	if err != nil {
		return nil, err
	}
	d := &ProcessDump{Process: p, Live: live, s: s, tr: k.Translator, deadline: time.Now().Add(MaxDumpHold)}
	if !live {
		hctx, cancel := context.WithTimeout(ctx, HoldTimeout)
		d.held, err = s.Hold(hctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("pausing the guest for a consistent dump (live dumps it running): %w", err)
		}
	}
	if err := d.plan(ctx, k); err != nil {
		return nil, errors.Join(err, d.Close(context.WithoutCancel(ctx)))
	}
	return d, nil
}

// plan reads what the dump will hold and fixes its layout.
func (d *ProcessDump) plan(ctx context.Context, k *nt.Opened) error {
	// The process again, now that the guest is still: it may have exited
	// between the look and the pause.
	p, err := k.ProcessByPID(d.Process.PID)
	if err != nil {
		return err
	}
	d.Process = p
	pid := p.PID
	d.dtb = d.Process.DTB
	vads, err := k.VADsContext(ctx, d.Process)
	if err != nil {
		return fmt.Errorf("the VADs of pid %d: %w", pid, err)
	}
	slices.SortFunc(vads, func(a, b nt.VAD) int { return cmpU64(a.Start, b.Start) })
	memory, err := d.memoryPlan(vads)
	if err != nil {
		return err
	}
	for _, r := range d.sourcing {
		d.Sourced = append(d.Sourced, r.PageRun)
	}
	d.modules(k)
	threads, err := d.threads(ctx, k, memory)
	if err != nil {
		return err
	}
	dump := minidump.Dump{
		System:  d.system(ctx, k),
		Process: minidump.ProcessInfo{PID: uint32(pid), CreateTime: nt.FileTime(d.Process.CreateTime)},
		Modules: d.Modules,
		Threads: threads,
		Memory:  memory,
		Time:    time.Now(),
	}
	dump.Comment = d.comment()
	d.Plan, err = minidump.NewPlan(dump)
	return err
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Write writes the minidump to w. A page that cannot be read now, though
// it could when the dump was planned (a live guest paged it out), fails
// the dump: its place in the file is fixed, and zeros there would lie.
func (d *ProcessDump) Write(ctx context.Context, w io.Writer) (uint64, error) {
	return d.Plan.Write(w, func(p []byte, addr uint64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.held != nil && time.Now().After(d.deadline) {
			return fmt.Errorf("%w (%v)", ErrDumpHoldExpired, MaxDumpHold)
		}
		res := d.tr.ReadVirtual(d.dtb, addr, p)
		if err := res.Err(); err != nil {
			for _, pr := range res.Pages() {
				if pr.Err != nil {
					return fmt.Errorf("page %#x was readable when the dump was planned and is not now (%s): %w", pr.VA&^(dumpPage-1), pr.Location.State, pr.Err)
				}
			}
			return err
		}
		return nil
	})
}

// Close lets the guest go as the dump found it. It is safe to call more
// than once.
func (d *ProcessDump) Close(ctx context.Context) error {
	h := d.held
	d.held = nil
	if h == nil {
		return nil
	}
	return h.Release(ctx)
}

// modules lists the process's images: loader lists cross-checked with
// image views, each with its RSDS identity and header fields read from
// memory.
func (d *ProcessDump) modules(k *nt.Opened) {
	imgs, _ := k.ProcessImages(d.Process) // what could be read; a broken list still dumps
	for _, m := range imgs {
		name := m.FullName
		if name == "" {
			name = m.MappedFile
		}
		if name == "" {
			name = m.Name
		}
		mod := minidump.Module{Base: m.Base, Size: uint32(min(m.Size, 0xffffffff)), Name: name}
		if m.PDBErr == nil {
			mod.PDB = minidump.RSDS{GUID: m.PDB.GUID, Age: m.PDB.Age, Name: m.PDB.PDBName}
		}
		mod.CheckSum, mod.TimeDateStamp = imageStamps(processReader{d.tr, d.dtb}, m.Base)
		d.Modules = append(d.Modules, mod)
	}
}

// system is the SystemInfo stream: the guest's Windows version when
// _KUSER_SHARED_DATA can be read, and its vCPU count.
func (d *ProcessDump) system(ctx context.Context, k *nt.Opened) minidump.SystemInfo {
	var si minidump.SystemInfo
	if u, err := k.SharedUserData(); err == nil {
		si.MajorVersion, si.MinorVersion = uint32(u.NtMajorVersion), uint32(u.NtMinorVersion)
		// The high nibble of NtBuildNumber marks a checked or free build.
		si.BuildNumber = uint32(u.NtBuildNumber & 0xffff)
		si.NumberOfProcessors = uint8(min(u.ActiveProcessorCount, 255))
	}
	if si.NumberOfProcessors == 0 {
		if cpus, err := d.s.Target.CPUs(ctx); err == nil {
			si.NumberOfProcessors = uint8(min(len(cpus), 255))
		}
	}
	return si
}

// processReader reads the process's memory for the PE parser.
type processReader struct {
	tr  *translate.Translator
	dtb uint64
}

func (r processReader) ReadAt(p []byte, addr uint64) (int, error) {
	res := r.tr.ReadVirtual(r.dtb, addr, p)
	if err := res.Err(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// comment is the dump's CommentStreamW: what kind of dump it is, and
// every page that came from a paging file or a mapped file or could not
// be read, so the dump's reader can tell.
func (d *ProcessDump) comment() string {
	var b strings.Builder
	how := "the guest paused"
	if d.Live {
		how = "the guest running (live: pages may be from different moments)"
	}
	fmt.Fprintf(&b, "Frost process dump of %s (pid %d), taken with %s.\n", d.Process.Name, d.Process.PID, how)
	p := d.Pages
	fmt.Fprintf(&b, "Pages in the memory list: %d (%d from RAM, %d demand-zero, %d from paging files, %d from mapped files). Unreadable, left out: %d.\n",
		p.Written, p.RAM, p.DemandZero, p.Pagefile, p.File, p.Unread)
	for _, t := range d.Threads {
		src := t.Context
		if src == "" {
			src = "no context"
		}
		fmt.Fprintf(&b, "Thread %d: %s", t.TID, src)
		if t.Note != "" {
			fmt.Fprintf(&b, "; %s", t.Note)
		}
		b.WriteString(".\n")
	}
	if len(d.Sourced) > 0 {
		b.WriteString("Pages from paging files and mapped files:\n")
		for _, r := range d.Sourced {
			fmt.Fprintf(&b, "  %#x-%#x %s\n", r.Start, r.End, r.Source)
		}
	}
	if len(d.Unread) > 0 {
		b.WriteString("Unreadable pages (not in the memory list):\n")
		for _, r := range d.Unread {
			fmt.Fprintf(&b, "  %#x-%#x %s: %s\n", r.Start, r.End, r.State, r.Source)
		}
	}
	return b.String()
}

// PausedRunningGuest says whether the dump paused a guest that ran (and
// Close resumes it).
func (d *ProcessDump) PausedRunningGuest() bool { return d.held != nil && d.held.WasRunning }
