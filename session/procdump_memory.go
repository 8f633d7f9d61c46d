package session

import (
	"fmt"
	"strings"

	"github.com/frostvmi/frost/minidump"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/translate"
)

const dumpPage = 4096

// PageSummary counts a process dump's pages by where their bytes come
// from.
type PageSummary struct {
	// Written is every page in the dump's memory list: RAM + DemandZero +
	// Pagefile + File.
	Written uint64
	// RAM: valid or transition pages, read from guest-physical memory.
	RAM uint64
	// DemandZero: committed pages the process never touched; they read
	// as zeros because that is what the process would read.
	DemandZero uint64
	// Pagefile and File: pages read from a paging file or a mapped file
	// (each listed in PageRuns).
	Pagefile, File uint64
	// Unread: committed pages whose bytes could not be had (listed in
	// UnreadRuns, left out of the memory list).
	Unread uint64
	// Uncommitted: pages inside VADs that are reserved or decommitted:
	// the process has no bytes there either.
	Uncommitted uint64
}

// PageRun is a stretch of pages with one source or one reason.
type PageRun struct {
	Start, End uint64 // [Start, End), page-aligned
	// State is the translation state (translate.State's name).
	State string
	// Source says where the bytes came from (a paging file and offset, a
	// file and offset) or, for an unread run, why they could not be read.
	Source string
}

// Pages is the number of pages in r.
func (r PageRun) Pages() uint64 { return (r.End - r.Start) / dumpPage }

// memoryPlan classifies every page of the process's VADs and returns the
// memory ranges to write. Pages that only a paging file or a mapped file
// hold are read once here, so a page that cannot be read is known (and
// left out) before the file's layout is fixed.
func (d *ProcessDump) memoryPlan(vads []nt.VAD) ([]minidump.Range, error) {
	var ranges []minidump.Range
	add := func(va uint64) {
		if n := len(ranges); n > 0 && ranges[n-1].End() == va {
			ranges[n-1].Size += dumpPage
			return
		}
		ranges = append(ranges, minidump.Range{Base: va, Size: dumpPage})
	}
	page := make([]byte, dumpPage)
	for _, v := range vads {
		if v.End <= v.Start {
			continue
		}
		runs, err := d.tr.VadMap(d.dtb, v.Start, v.End)
		if err != nil {
			return nil, fmt.Errorf("mapping the VAD %#x-%#x: %w", v.Start, v.End, err)
		}
		for _, r := range runs {
			end := r.End
			if end == 0 || end > v.End {
				end = v.End // a run is clipped to its VAD (end 0: 2^64)
			}
			d.classify(r, end, page, add)
		}
	}
	return ranges, nil
}

// classify accounts for one VadMap run and adds its readable pages.
func (d *ProcessDump) classify(r translate.Run, end uint64, page []byte, add func(uint64)) {
	sum := &d.Pages
	state := r.Location.State.String()
	if r.Err != nil {
		d.unread(r.Start, end, "Unknown", r.Err.Error(), "")
		return
	}
	switch r.Location.State {
	case translate.StateValid, translate.StateTransition:
		for va := r.Start; va < end; va += dumpPage {
			add(va)
			sum.RAM++
		}
	case translate.StateDemandZero:
		for va := r.Start; va < end; va += dumpPage {
			add(va)
			sum.DemandZero++
		}
	case translate.StatePagefile, translate.StateFile:
		// Read each page now: a paging file or mapped file not supplied
		// to frostd, or one that ends early, fails per page.
		for va := r.Start; va < end; va += dumpPage {
			loc := r.Location
			res := d.tr.ReadVirtual(d.dtb, va, page)
			if err := res.Err(); err != nil {
				d.unread(va, va+dumpPage, state, err.Error(), fileName(loc)+" @ "+fmt.Sprint(loc.Addr+(va-r.Start)))
				continue
			}
			if ps := res.Pages(); len(ps) == 1 {
				loc = ps[0].Location
			}
			add(va)
			if loc.State == translate.StatePagefile {
				sum.Pagefile++
			} else {
				sum.File++
			}
			d.sourced(va, loc)
		}
	case translate.StateReserved, translate.StateDecommitted, translate.StateNotMapped:
		sum.Uncommitted += (end - r.Start) / dumpPage
	default: // compressed (not decoded), or a state with no bytes to read
		reason := "no bytes in this state"
		if r.Location.State == translate.StateCompressed {
			reason = fmt.Sprintf("in the virtual store (pagefile %d @ %#x): %v", r.Location.Pagefile, r.Location.Addr, translate.ErrCompressed)
		}
		d.unread(r.Start, end, state, reason, "")
	}
	sum.Written = sum.RAM + sum.DemandZero + sum.Pagefile + sum.File
}

// unread notes pages that could not be read. from names where they were
// to come from, with the offset ("file @ offset"; "" for a state with no
// bytes): pages that follow each other in the process and in that source
// share a run, which the first page's reason names, so a missing DLL is
// one line, not one per page.
func (d *ProcessDump) unread(start, end uint64, state, why, from string) {
	d.Pages.Unread += (end - start) / dumpPage
	if n := len(d.Unread); n > 0 && d.Unread[n-1].End == start && d.Unread[n-1].State == state {
		last := d.unreadFrom[n-1]
		if (from == "" && last == "" && d.Unread[n-1].Source == why) || (from != "" && last == from) {
			d.Unread[n-1].End = end
			d.unreadFrom[n-1] = nextFrom(from, end-start)
			return
		}
	}
	d.Unread = append(d.Unread, PageRun{Start: start, End: end, State: state, Source: why})
	d.unreadFrom = append(d.unreadFrom, nextFrom(from, end-start))
}

// nextFrom is the "file @ offset" the page after a run must come from.
func nextFrom(from string, n uint64) string {
	name, off, ok := strings.Cut(from, " @ ")
	if !ok {
		return from
	}
	var v uint64
	if _, err := fmt.Sscan(off, &v); err != nil {
		return from
	}
	return name + " @ " + fmt.Sprint(v+n)
}

// sourced notes a page read from a paging file or a mapped file; pages
// whose sources follow each other share a run.
func (d *ProcessDump) sourced(va uint64, loc translate.Location) {
	src := loc.String()
	if n := len(d.sourcing); n > 0 {
		last := &d.sourcing[n-1]
		if last.End == va && last.State == loc.State.String() && last.next == loc.Addr && last.file == fileName(loc) {
			last.End += dumpPage
			last.next += dumpPage
			return
		}
	}
	d.sourcing = append(d.sourcing, sourceRun{PageRun: PageRun{Start: va, End: va + dumpPage, State: loc.State.String(), Source: src},
		next: loc.Addr + dumpPage, file: fileName(loc)})
}

// sourceRun is a PageRun with what it takes to extend it.
type sourceRun struct {
	PageRun
	next uint64 // the source offset the next page must have
	file string
}

func fileName(loc translate.Location) string {
	if loc.File != nil {
		return loc.File.Name
	}
	return fmt.Sprintf("pagefile %d", loc.Pagefile)
}
