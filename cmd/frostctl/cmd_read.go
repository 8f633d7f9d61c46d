package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(
		command{"read", "(--pid N|--dtb X|--kernel|--physical) ADDR LEN [-o FILE]", "read memory: a hexdump, or raw bytes into a file", cmdRead},
	)
}

func cmdRead(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("read", true)
	sp := addSpaceFlags(fs)
	physical := fs.Bool("physical", false, "guest-physical addresses")
	out := fs.String("o", "", "write the raw bytes to `file` instead of a hexdump")
	prov := fs.Bool("provenance", false, "show how every page was translated")
	pos, err := c.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	at, err := parseAddr("ADDR", pos[0])
	if err != nil {
		return err
	}
	n, err := parseSize("LEN", pos[1])
	if err != nil {
		return err
	}
	if *physical == sp.given() {
		return errors.New("name one address space: --physical, --pid N, --dtb CR3 or --kernel")
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	var data []byte
	var pages []*pb.PageStatus
	if *physical {
		resp, err := pb.NewMemoryServiceClient(cc).ReadPhysical(ctx, &pb.ReadPhysicalRequest{Vm: c.vm, Address: at, Length: n})
		if err != nil {
			return err
		}
		data, pages = resp.GetData(), resp.GetPages()
		if c.json {
			return c.emit(resp, nil)
		}
	} else {
		space, err := sp.space()
		if err != nil {
			return err
		}
		resp, err := pb.NewMemoryServiceClient(cc).ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: c.vm, Space: space, Address: at, Length: n, Provenance: *prov})
		if err != nil {
			return err
		}
		data, pages = resp.GetData(), resp.GetPages()
		if c.json {
			return c.emit(resp, nil)
		}
	}
	if *out != "" {
		if err := os.WriteFile(*out, data, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "%d bytes from %s written to %s\n", len(data), addr(at), *out)
		printUnserved(c.out, pages)
		return nil
	}
	hexdump(c.out, at, data, pages)
	printUnserved(c.out, pages)
	for _, p := range pages {
		if p.GetProvenance() != nil {
			fmt.Fprintln(c.out)
			fmt.Fprint(c.out, p.GetProvenance().GetText())
		}
	}
	return nil
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
