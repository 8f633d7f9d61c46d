package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(
		command{name: "read", args: "(--pid N|--dtb X|--kernel|--physical [--post-mortem]) ADDR LEN [-o FILE|-]",
			short: "read memory of any length: a hexdump, or the raw bytes into a file",
			long:  readHelp,
			example: "frostctl read --vm win10 --physical 0x1000 0x40\n" +
				"frostctl read --vm win10 --pid 420 '7ff6`12340000' 0x1000 -o page.bin\n" +
				"frostctl read --vm win10 --pid 420 0x7ff612340000 16M -o image.bin\n" +
				"frostctl read --vm win10 --physical --post-mortem 0 1G -o last-ram.bin",
			minPos: 2, maxPos: 2, vm: true, setup: cmdRead},
	)
}

const readHelp = `Reads LEN bytes at ADDR, in a process (--pid), an address space (--dtb),
the kernel (--kernel), or guest-physical memory (--physical).

ADDR is hex, as in WinDbg: 0x optional, and a backtick may separate the
halves (quote it in a shell: 'fffff800` + "`" + `12345678', or leave it out).
LEN is decimal, or hex with 0x, with an optional K, M or G.

Without -o, it prints a hexdump; bytes that could not be read show as ??,
and a line per unread piece says why (its page state). Any length streams
to a pipe or a file (frostctl read ... | less); on a terminal a hexdump is
limited to 1M (65536 lines): use -o, or a pager, for more.

With -o FILE, it writes the raw bytes, any length, streamed (StreamPhysical
or StreamVirtual), with a progress bar when stderr is a terminal. Unread
bytes are zeros in the file, and the summary lists them with their page
state. The file appears only once complete: an interrupted read leaves
none. -o - writes the raw bytes to stdout (not a terminal).

--post-mortem (with --physical) reads a guest whose QEMU has gone, from
the memory it left behind (a file-backed RAM outlives QEMU); without it
such a read fails with "guest is gone". Such output is marked
"post-mortem" (in --json, post_mortem is true).

On frostd's host, read --physical copies guest RAM from the read-only
mapping frostd hands local clients (over its side socket, frostd.mem.sock)
instead of asking for it over gRPC; anything that is not plain RAM (a
hole, MMIO) is still frostd's answer, so the output is the same either
way. --no-local asks frostd for every byte. Virtual reads, --json and
--post-mortem always ask frostd.

--json prints the API's messages: the ReadPhysical/ReadVirtual reply for
up to 1M without -o, else each streamed chunk as a JSON line (with -o, the
chunks' page statuses without their bytes, which are in the file).`

func cmdRead(c *cli, fs *pflag.FlagSet) runFunc {
	sp := addSpaceFlags(fs)
	physical := fs.Bool("physical", false, "guest-physical addresses")
	out := fs.StringP("output", "o", "", "write the raw bytes to `file` (- for stdout) instead of a hexdump")
	prov := fs.Bool("provenance", false, "show how every page was translated (a hexdump of at most 1M)")
	postMortem := fs.Bool("post-mortem", false, "with --physical: read a guest whose QEMU is gone (its RAM as QEMU left it, marked so)")
	return func(ctx context.Context, pos []string) error {
		at, err := parseAddr("ADDR", pos[0])
		if err != nil {
			return err
		}
		n, err := parseSize("LEN", pos[1])
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("LEN: nothing to read")
		}
		if at+n < at && at+n != 0 {
			return fmt.Errorf("ADDR+LEN: %s+%#x runs past the top of the address space", addr(at), n)
		}
		if *physical == sp.given() {
			return errors.New("name one address space: --physical, --pid N, --dtb CR3 or --kernel")
		}
		if *postMortem && !*physical {
			return errors.New("--post-mortem reads guest-physical memory only (--physical): a gone guest's page tables are not walked")
		}
		var space *pb.AddressSpace
		if !*physical {
			if space, err = sp.space(); err != nil {
				return err
			}
		}
		streamed := *out != "" || n > maxUnaryRead
		if *prov && (streamed || *physical) {
			return errors.New("--provenance: a hexdump of virtual memory of at most 1M only (vadmap gives the page states of a larger range)")
		}
		cc, err := c.client()
		if err != nil {
			return err
		}
		mem := pb.NewMemoryServiceClient(cc)
		// On frostd's host, guest-physical bytes come from the read-only
		// mapping of guest RAM (client package); --json (frostd's own
		// replies) and --post-mortem (a gone guest) ask frostd.
		local := *physical && !c.json && !*postMortem && c.localMemory(ctx)
		if streamed {
			rs := physicalStream(mem, c.vm, at, n, *postMortem)
			if local {
				rs = localPhysicalStream(c.fc, mem, c.vm, at, n)
			}
			if !*physical {
				rs = virtualStream(mem, c.vm, space, at, n)
			}
			if *out != "" {
				return rs.toFile(ctx, c, *out)
			}
			return rs.hexdump(ctx, c)
		}
		uctx, cancel := unaryCtx(ctx)
		defer cancel()
		var data []byte
		var pages []*pb.PageStatus
		smear, hardware := false, false
		if local {
			if data, ok := localPhysical(uctx, c.fc, c.vm, at, n); ok {
				hexdump(c.out, at, data, nil)
				return nil
			}
		}
		if *physical {
			resp, err := mem.ReadPhysical(uctx, &pb.ReadPhysicalRequest{Vm: c.vm, Address: at, Length: n, PostMortem: *postMortem})
			if err != nil {
				return err
			}
			if c.json {
				return c.emit(resp, nil)
			}
			data, pages = resp.GetData(), resp.GetPages()
			if resp.GetPostMortem() {
				fmt.Fprintln(c.out, postMortemNote)
			}
		} else {
			resp, err := mem.ReadVirtual(uctx, &pb.ReadVirtualRequest{Vm: c.vm, Space: space, Address: at, Length: n, Provenance: *prov})
			if err != nil {
				return err
			}
			if c.json {
				return c.emit(resp, nil)
			}
			data, pages, smear = resp.GetData(), resp.GetPages(), resp.GetSmear()
			hardware = resp.GetModel() == pb.TranslationModel_TRANSLATION_MODEL_X86_64
		}
		hexdump(c.out, at, data, pages)
		printUnserved(c.out, pages)
		if hardware && !allServed(pages) {
			fmt.Fprintln(c.out, hardwareNote)
		}
		if smear {
			fmt.Fprintln(c.out, "the guest ran during the read: its pages come from different moments (pause it for a consistent image)")
		}
		for _, p := range pages {
			if p.GetProvenance() != nil {
				fmt.Fprintln(c.out)
				fmt.Fprint(c.out, p.GetProvenance().GetText())
			}
		}
		return nil
	}
}

// postMortemNote marks bytes frostd read from a gone guest (post_mortem):
// the RAM QEMU left behind, which no running guest holds any more.
const postMortemNote = "post-mortem: the guest is gone; these bytes are its RAM as QEMU left it, not a running guest's"

// hardwareNote explains unread pages of a hardware-only walk.
const hardwareNote = "no Windows kernel is known in this guest: its page tables were walked as the processor walks them, " +
	"so a page whose entry is not present (swapped out, not yet touched, or not mapped) is not read"

func allServed(pages []*pb.PageStatus) bool {
	for _, p := range pages {
		if !p.GetServed() {
			return false
		}
	}
	return true
}

// printUnserved lists the pieces that are zero-filled in the data, and why.
func printUnserved(w io.Writer, pages []*pb.PageStatus) {
	for _, p := range pages {
		if !p.GetServed() {
			fmt.Fprintf(w, "not read: %s +%#x: %s\n", addr(p.GetAddress()), p.GetLength(), pieceState(p))
		}
	}
}

// hexdump prints 16 bytes a line as WinDbg's db does; bytes that could not
// be read show as ?? rather than as the zeros that fill them.
func hexdump(w io.Writer, at uint64, data []byte, pages []*pb.PageStatus) {
	unread := func(off int) bool {
		for _, p := range pages {
			if !p.GetServed() && uint64(off) >= p.GetOffset() && uint64(off) < p.GetOffset()+p.GetLength() {
				return true
			}
		}
		return false
	}
	for line := 0; line < len(data); line += 16 {
		fmt.Fprintf(w, "%s  ", addr(at+uint64(line)))
		var ascii [16]byte
		for i := 0; i < 16; i++ {
			off := line + i
			sep := " "
			if i == 7 {
				sep = "-"
			}
			switch {
			case off >= len(data):
				fmt.Fprint(w, "   ")
				ascii[i] = ' '
			case unread(off):
				fmt.Fprint(w, "??"+sep)
				ascii[i] = '?'
			default:
				fmt.Fprintf(w, "%02x%s", data[off], sep)
				ascii[i] = printable(data[off])
			}
		}
		fmt.Fprintf(w, " %s\n", string(ascii[:min(16, len(data)-line)]))
	}
}

func printable(b byte) byte {
	if b >= 0x20 && b < 0x7f {
		return b
	}
	return '.'
}
