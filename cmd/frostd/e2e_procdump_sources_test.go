package main

import (
	"bytes"
	"context"
	"debug/pe"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/frostvmi/frost/integration/guest/disk"
	"github.com/frostvmi/frost/integration/guest/minint"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// TestProcessDumpSourcesOnLibvirt is the part of issue 16's process dump
// that a guest keeping every page in RAM never reaches: mini-NT booted
// without winboot, with a paging file, so swapper.exe's pattern pages go
// to the paging file and its image view of frostimg.dll keeps untouched
// pages only in the file. frostd gets the paging file (copied from the
// C: image, where the guest wrote it) and frostimg.dll under its
// --data-dir, and nothing else: the other images' file-only pages cannot
// be read.
//
// Checked with the real frostctl binary, against the guest's own report
// and the files: the trailer counts pages from the paging file (exactly
// the ones the guest says it paged out) and from the mapped file; the
// dump's comment stream and frostctl's summary name their sources; the
// bytes of paged-out pattern pages in the MDMP's Memory64List are the
// guest's pattern, and frostimg.dll's file-backed pages are the file's;
// pages that could not be read are listed and absent from the memory
// list. Then moddump rebuilds frostimg.dll from those sources.
func TestProcessDumpSourcesOnLibvirt(t *testing.T) {
	guestDir := requireE2E(t)
	readobj := lookTool(t, "llvm-readobj", "llvm-readobj-14", "llvm-readobj-15")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
	d := defineDomainWith(ctx, t, conn, minint.Config{GuestDir: guestDir, WriterPeriodMS: 250})
	// No winboot: the guest creates its paging file and pages out.
	if err := d.dom.Start(ctx, false); err != nil {
		t.Fatal(err)
	}
	d.waitSerial(t, "ready", func(l string) bool { return strings.Contains(l, "frost-guest: ready") })
	rep := d.report(t)
	sw, ok := rep.First("swapper")
	if !ok {
		t.Fatal("the guest reported no swapper")
	}
	swPID, patBase, patPages := uintOf(t, sw, "pid"), uintOf(t, sw, "pattern-base"), uintOf(t, sw, "pages")
	view, viewSize := uintOf(t, sw, "image-view"), uintOf(t, sw, "image-size")
	pagedOut := settledPagedOut(t, rep, swPID)
	if len(pagedOut) == 0 {
		t.Fatalf("the guest paged none of swapper's pages out; serial log:\n%s", d.serialTail())
	}

	dir := t.TempDir()
	vmDir := filepath.Join(dir, "vms", d.name)
	supplyPagefile(t, d, filepath.Join(vmDir, "pagefiles", "pagefile.sys"))
	copyFile(t, filepath.Join(guestDir, "frostimg.dll"), filepath.Join(vmDir, "files", "Windows", "System32", "frostimg.dll"))
	image := peImage(t, filepath.Join(guestDir, "frostimg.dll"))

	fd := startFrostd(t, bin, dir, guestDir, "frostd.log")
	defer func() {
		if t.Failed() {
			t.Logf("frostd log:\n%s", fd.output())
		}
	}()
	c := &ctl{bin: buildFrostctlBinary(t), sock: fd.sock, vm: d.name, home: t.TempDir()}
	pid := strconv.FormatUint(swPID, 10)
	c.must(t, "attach", d.name)

	var unreadPages []uint64  // what procdump could not read
	var frostrt [2]uint64     // frostrt.dll's base and size, from the plan
	var first *pb.DumpTrailer // the JSON dump's trailer
	t.Run("procdump names its sources", func(t *testing.T) {
		file := filepath.Join(dir, "swapper.dmp")
		plan, tr := procdumpJSON(t, c.must(t, "procdump", "--json=proto", "--pid", pid, "-o", file))
		first = tr
		pages := tr.GetPages()
		t.Logf("pages: %v", pages)
		if pages.GetPagefile() == 0 || pages.GetFile() == 0 {
			t.Errorf("the trailer counts %d pages from paging files and %d from mapped files; want both", pages.GetPagefile(), pages.GetFile())
		}
		if pages.GetWritten() != pages.GetRam()+pages.GetDemandZero()+pages.GetPagefile()+pages.GetFile() ||
			plan.GetPages().GetPagefile() != pages.GetPagefile() || plan.GetPages().GetFile() != pages.GetFile() {
			t.Errorf("page counts do not add up: plan %v, trailer %v", plan.GetPages(), pages)
		}
		for _, m := range plan.GetModules() {
			if strings.HasSuffix(strings.ToLower(m.GetName()), `\frostrt.dll`) {
				frostrt = [2]uint64{m.GetBase(), m.GetSize()}
			}
		}
		md := readMinidump(t, file)
		if got := md.pages(); got != pages.GetWritten() {
			t.Errorf("the memory list holds %d pages, the trailer says %d written", got, pages.GetWritten())
		}

		// Pages from the paging file: exactly what the guest paged out. A
		// run names its first page's source; the pages after it follow
		// it in the file.
		fromPF, fromFile := map[uint64]uint64{}, map[uint64]uint64{}
		for _, r := range tr.GetSourced() {
			src := r.GetSource()
			at := strings.LastIndex(src, " @ 0x")
			var off uint64
			var err error
			if at >= 0 {
				off, err = strconv.ParseUint(src[at+len(" @ 0x"):], 16, 64)
			}
			if at < 0 || err != nil {
				t.Errorf("sourced run %#x-%#x: source %q names no offset", r.GetStart(), r.GetEnd(), src)
				continue
			}
			for va := r.GetStart(); va < r.GetEnd(); va += 4096 {
				switch {
				case strings.HasPrefix(src, "Pagefile 0 @ "):
					fromPF[va] = off + va - r.GetStart()
				case strings.HasPrefix(src, `File Mapping \Windows\System32\frostimg.dll @ `):
					fromFile[va] = off + va - r.GetStart()
				default:
					t.Errorf("sourced run %#x-%#x: source %q is neither paging file 0 nor frostimg.dll, the only files supplied", r.GetStart(), r.GetEnd(), src)
				}
			}
		}
		if uint64(len(fromPF)) != pages.GetPagefile() || uint64(len(fromFile)) != pages.GetFile() {
			t.Errorf("sourced runs list %d paging-file and %d mapped-file pages; the counts are %d and %d",
				len(fromPF), len(fromFile), pages.GetPagefile(), pages.GetFile())
		}
		for va, want := range pagedOut {
			off, ok := fromPF[va]
			if !ok {
				t.Errorf("the guest paged %#x out (paging file offset %#x); the dump has it %s", va, want, md.describe(va, tr))
			} else if off != want {
				t.Errorf("page %#x: from paging file offset %#x, the guest says %#x", va, off, want)
			}
		}
		for va, off := range fromPF {
			if _, ok := pagedOut[va]; !ok {
				t.Errorf("page %#x came from the paging file (offset %#x), but the guest did not report it paged out", va, off)
			}
		}

		// Their bytes in the MDMP are the guest's pattern.
		checked := 0
		for va := range fromPF {
			if va < patBase || va >= patBase+patPages*4096 {
				continue
			}
			got, ok := md.bytesAt(va, 4096)
			if !ok {
				t.Errorf("paged-out pattern page %#x is not in the memory list", va)
			} else if want := patternPage((va - patBase) / 4096); !bytes.Equal(got, want) {
				t.Errorf("paged-out pattern page %d at %#x: the dump holds %x..., the pattern is %x...", (va-patBase)/4096, va, got[:16], want[:16])
			}
			checked++
		}
		if checked == 0 {
			t.Errorf("no pattern page came from the paging file (paged out: %d pages)", len(pagedOut))
		}

		// Mapped-file pages: frostimg.dll's, byte for byte the file's.
		// frostimg.dll's file alignment is its section alignment, so a
		// page's file offset is its RVA.
		for va, off := range fromFile {
			if va < view || va >= view+viewSize {
				t.Errorf("page %#x came from frostimg.dll, outside its view %#x+%#x", va, view, viewSize)
				continue
			}
			rva := va - view
			if off != rva {
				t.Errorf("frostimg.dll page at RVA %#x: from file offset %#x", rva, off)
			}
			got, ok := md.bytesAt(va, 4096)
			if !ok {
				t.Errorf("mapped-file page %#x is not in the memory list", va)
			} else if want := image[rva : rva+4096]; !bytes.Equal(got, want) {
				t.Errorf("frostimg.dll page at RVA %#x: the dump's bytes differ from the file's", rva)
			}
		}
		t.Logf("from the paging file: %d pages (%d pattern pages compared); from frostimg.dll: %d pages; unread: %d pages in %d runs",
			len(fromPF), checked, len(fromFile), pages.GetUnread(), len(tr.GetUnread()))

		// Unread pages: the file-only pages of the images frostd was not
		// given, listed with the reason, and not in the memory list.
		if pages.GetUnread() == 0 {
			t.Errorf("no page was unread, yet frostd has no ntdll.dll or frostrt.dll")
		}
		var unread uint64
		for _, r := range tr.GetUnread() {
			if r.GetState() == "" || !strings.Contains(r.GetSource(), "not supplied") {
				t.Errorf("unread run %#x-%#x does not say it lacks its file: %v", r.GetStart(), r.GetEnd(), r)
			}
			for va := r.GetStart(); va < r.GetEnd(); va += 4096 {
				unread++
				unreadPages = append(unreadPages, va)
				if md.holds(va) {
					t.Errorf("unread page %#x (%s) is in the memory list", va, r.GetSource())
				}
			}
			t.Logf("unread %#x-%#x %s: %s", r.GetStart(), r.GetEnd(), r.GetState(), r.GetSource())
		}
		if unread != pages.GetUnread() {
			t.Errorf("unread runs cover %d pages; the count is %d", unread, pages.GetUnread())
		}

		// The comment stream names every source and every unread run.
		for _, r := range tr.GetSourced() {
			if line := fmt.Sprintf("%#x-%#x %s", r.GetStart(), r.GetEnd(), r.GetSource()); !strings.Contains(md.comment, line) {
				t.Errorf("the comment stream lacks %q", line)
			}
		}
		for _, r := range tr.GetUnread() {
			if line := fmt.Sprintf("%#x-%#x %s: %s", r.GetStart(), r.GetEnd(), r.GetState(), r.GetSource()); !strings.Contains(md.comment, line) {
				t.Errorf("the comment stream lacks %q", line)
			}
		}
		counts := fmt.Sprintf("%d from paging files, %d from mapped files). Unreadable, left out: %d.", pages.GetPagefile(), pages.GetFile(), pages.GetUnread())
		if !strings.Contains(md.comment, counts) {
			t.Errorf("the comment stream lacks %q:\n%s", counts, md.comment)
		}
		if t.Failed() {
			t.Logf("comment stream:\n%s", md.comment)
		}
	})

	// The summary a user reads, of a paused and of a live dump: the
	// same counts (nothing in swapper changes after ready), each sourced
	// and unread run with its source or reason.
	for _, live := range []bool{false, true} {
		t.Run(fmt.Sprintf("procdump summary live=%v", live), func(t *testing.T) {
			if first == nil {
				t.Skip("the JSON dump failed")
			}
			args := []string{"procdump", "--pid", pid, "-o", filepath.Join(dir, fmt.Sprintf("swapper-%v.dmp", live)), "-q"}
			if live {
				args = append(args, "--live")
			}
			out := c.must(t, args...)
			p := first.GetPages()
			wants := []string{fmt.Sprintf("%d from paging files, %d from mapped files; %d unreadable (left out)", p.GetPagefile(), p.GetFile(), p.GetUnread()),
				"From paging files and mapped files:", "Unreadable pages (not in the dump):"}
			for _, r := range first.GetSourced() {
				wants = append(wants, fmt.Sprintf("%s-%s %s\n", ctlAddr(r.GetStart()), ctlAddr(r.GetEnd()), r.GetSource()))
			}
			for _, r := range first.GetUnread() {
				wants = append(wants, fmt.Sprintf("%s-%s %s: %s\n", ctlAddr(r.GetStart()), ctlAddr(r.GetEnd()), r.GetState(), r.GetSource()))
			}
			for _, want := range wants {
				if !strings.Contains(out, want) {
					t.Errorf("summary lacks %q:\n%s", want, out)
				}
			}
		})
	}

	t.Run("moddump of a partly resident image", func(t *testing.T) {
		file := filepath.Join(dir, "frostimg.dll")
		out, errOut, code := c.run(t, "moddump", "--pid", pid, "--module", "frostimg.dll", "-o", file)
		t.Logf("moddump frostimg.dll: exit %d\n%s%s", code, out, errOut)
		if code != 0 {
			t.Fatalf("moddump of frostimg.dll, whose file frostd has, did not come out whole: exit %d", code)
		}
		checkRebuilt(t, readobj, file, filepath.Join(guestDir, "frostimg.dll"))
		checkSection(t, file, filepath.Join(guestDir, "frostimg.dll"), ".rdata")
	})

	// frostrt.dll's file-only pages have no source frostd was given: the
	// module comes out with each of them listed, and moddump says it is
	// partial.
	t.Run("moddump lists the pages no source holds", func(t *testing.T) {
		var want []uint64
		for _, va := range unreadPages {
			if va >= frostrt[0] && va < frostrt[0]+frostrt[1] {
				want = append(want, va)
			}
		}
		if len(want) == 0 {
			t.Skipf("procdump read every page of frostrt.dll (%#x+%#x)", frostrt[0], frostrt[1])
		}
		file := filepath.Join(dir, "frostrt.dll")
		out, errOut, code := c.run(t, "moddump", "--pid", pid, "--module", "frostrt.dll", "-o", file)
		t.Logf("moddump frostrt.dll: exit %d\n%s%s", code, out, errOut)
		if code == 0 || !strings.Contains(errOut, "--allow-partial") {
			t.Errorf("moddump of frostrt.dll with unreadable pages %#x: exit %d", want, code)
		}
		if !strings.Contains(out, fmt.Sprintf("%d unreadable page(s)", len(want))) {
			t.Errorf("the summary does not count %d unreadable pages", len(want))
		}
		for _, va := range want {
			if !strings.Contains(out, "  "+kdAddr(va)+"\n") {
				t.Errorf("the summary does not list unreadable page %#x", va)
			}
		}
	})
}

// ctlAddr is an address as frostctl prints it: 8 hex digits, or two
// groups of 8 split by a backtick above 4 GiB.
func ctlAddr(v uint64) string {
	if v > 0xffffffff {
		return kdAddr(v)
	}
	return fmt.Sprintf("%08x", v)
}

func uintOf(t *testing.T, e minint.Event, key string) uint64 {
	t.Helper()
	v, err := e.Uint(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// settledPagedOut is the settling pass's `pagedout` lines for pid: each
// page's offset in paging file 0. The pass prints a process's pages, then
// its `trim` line.
func settledPagedOut(t *testing.T, rep minint.Report, pid uint64) map[uint64]uint64 {
	t.Helper()
	var pending []minint.Event
	for _, e := range rep {
		switch e.Name {
		case "pagedout":
			pending = append(pending, e)
		case "trim":
			if uintOf(t, e, "pid") != pid || len(pending) == 0 {
				pending = nil
				continue
			}
			out := map[uint64]uint64{}
			for _, p := range pending {
				if n := uintOf(t, p, "pagefile"); n != 0 {
					t.Fatalf("page %#x in paging file %d: only one was configured", uintOf(t, p, "va"), n)
				}
				out[uintOf(t, p, "va")] = uintOf(t, p, "offset")
			}
			return out
		}
	}
	return nil
}

// supplyPagefile copies the paging file's extent out of the guest's C:
// image, where the guest wrote it, to where frostd looks for it.
func supplyPagefile(t *testing.T, d *testDomain, to string) {
	t.Helper()
	vol, err := disk.Open(d.spec.DiskPath())
	if err != nil {
		t.Fatal(err)
	}
	defer vol.Close()
	r, err := vol.ReadExtent(`\pagefile.sys`)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, to, r)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	f, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writeAll(t, to, f)
}

func writeAll(t *testing.T, to string, r io.Reader) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, r); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// peImage is a PE file laid out as the loader maps it: headers, then each
// section's raw data at its RVA, zeros elsewhere.
func peImage(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := pe.NewFile(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatalf("%s is not PE32+", path)
	}
	img := make([]byte, (uint64(oh.SizeOfImage)+4095)&^4095)
	copy(img, raw[:min(len(raw), int(oh.SizeOfHeaders))])
	for _, s := range f.Sections {
		n := min(s.Size, s.VirtualSize)
		copy(img[s.VirtualAddress:], raw[s.Offset:s.Offset+n])
	}
	return img
}

// checkSection: the rebuilt module's section equals the file's.
func checkSection(t *testing.T, rebuilt, orig, name string) {
	t.Helper()
	data := func(path string) []byte {
		f, err := pe.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer f.Close()
		s := f.Section(name)
		if s == nil {
			t.Fatalf("%s has no %s", path, name)
		}
		b, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		return b[:min(len(b), int(s.VirtualSize))]
	}
	if got, want := data(rebuilt), data(orig); !bytes.Equal(got, want) {
		t.Errorf("%s: %s (%d bytes) differs from %s's (%d bytes)", rebuilt, name, len(got), orig, len(want))
	}
}

// minidumpFile is what the test reads of an MDMP itself: the memory list
// and the comment stream.
type minidumpFile struct {
	data    []byte
	ranges  []mdRange
	comment string
}

type mdRange struct{ base, size, rva uint64 }

func readMinidump(t *testing.T, path string) *minidumpFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if len(data) < 32 || le.Uint32(data) != 0x504d444d {
		t.Fatalf("%s is not a minidump", path)
	}
	md := &minidumpFile{data: data}
	n, dir := le.Uint32(data[8:]), le.Uint32(data[12:])
	for i := uint32(0); i < n; i++ {
		e := data[dir+12*i:]
		typ, size, rva := le.Uint32(e), le.Uint32(e[4:]), le.Uint32(e[8:])
		s := data[rva : rva+size]
		switch typ {
		case 9: // Memory64ListStream
			cnt, at := le.Uint64(s), le.Uint64(s[8:])
			for j := uint64(0); j < cnt; j++ {
				d := s[16+16*j:]
				r := mdRange{base: le.Uint64(d), size: le.Uint64(d[8:]), rva: at}
				md.ranges = append(md.ranges, r)
				at += r.size
			}
			if at != uint64(len(data)) {
				t.Errorf("the memory list's bytes end at %d; the file at %d", at, len(data))
			}
		case 11: // CommentStreamW
			u := make([]uint16, len(s)/2)
			for k := range u {
				u[k] = le.Uint16(s[2*k:])
			}
			md.comment = strings.TrimRight(string(utf16.Decode(u)), "\x00")
		}
	}
	if md.ranges == nil || md.comment == "" {
		t.Fatalf("%s: %d memory ranges, comment %q", path, len(md.ranges), md.comment)
	}
	return md
}

func (m *minidumpFile) pages() uint64 {
	var n uint64
	for _, r := range m.ranges {
		n += r.size / 4096
	}
	return n
}

func (m *minidumpFile) holds(va uint64) bool {
	_, ok := m.bytesAt(va, 1)
	return ok
}

// bytesAt is n bytes at va from the memory list, if one range holds them.
func (m *minidumpFile) bytesAt(va uint64, n int) ([]byte, bool) {
	for _, r := range m.ranges {
		if va >= r.base && va+uint64(n) <= r.base+r.size {
			o := r.rva + va - r.base
			return m.data[o : o+uint64(n)], true
		}
	}
	return nil, false
}

// describe says how the dump accounts for a page: for an error message.
func (m *minidumpFile) describe(va uint64, tr *pb.DumpTrailer) string {
	for _, r := range tr.GetUnread() {
		if va >= r.GetStart() && va < r.GetEnd() {
			return fmt.Sprintf("unread (%s: %s)", r.GetState(), r.GetSource())
		}
	}
	for _, r := range tr.GetSourced() {
		if va >= r.GetStart() && va < r.GetEnd() {
			return "from " + r.GetSource()
		}
	}
	if m.holds(va) {
		return "in the memory list (RAM or demand-zero)"
	}
	return "not at all"
}
