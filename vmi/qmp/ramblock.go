package qmp

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// RAMBlock is one line of `info ramblock`: a chunk of host memory QEMU
// allocated for guest RAM, ROM or device memory.
type RAMBlock struct {
	Name     string // e.g. "pc.ram", "mem" (a memory backend's id), "0000:00:02.0/vga.vram"
	PageSize uint64 // host page size backing it
	// Offset is the block's place in QEMU's internal ram_addr_t space. It
	// is not a file offset nor a guest-physical address.
	Offset uint64
	Used   uint64 // bytes in use: the size of the guest RAM it holds
	Total  uint64 // bytes reserved (max_length of resizeable blocks)
}

// RAMBlockError is `info ramblock` text that cannot be parsed.
type RAMBlockError struct {
	Line int // 1-based; 0 for the text as a whole
	Text string
	Msg  string
}

func (e *RAMBlockError) Error() string {
	if e.Line == 0 {
		return "qmp: info ramblock: " + e.Msg
	}
	return fmt.Sprintf("qmp: info ramblock: line %d: %s: %q", e.Line, e.Msg, e.Text)
}

// ParseRAMBlocks parses `info ramblock` (QEMU 7.2: a header, then
// "name  4 KiB  0x<offset> 0x<used> 0x<total>" per block). There is no
// host address column in 7.2, so this only names and sizes blocks.
func ParseRAMBlocks(text string) ([]RAMBlock, error) {
	var blocks []RAMBlock
	header := false
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !header {
			if !strings.Contains(line, "Block Name") {
				return nil, &RAMBlockError{Line: i + 1, Text: line, Msg: "no header line"}
			}
			header = true
			continue
		}
		b, err := parseRAMBlock(f)
		if err != nil {
			return nil, &RAMBlockError{Line: i + 1, Text: line, Msg: err.Error()}
		}
		blocks = append(blocks, b)
	}
	if len(blocks) == 0 {
		return nil, &RAMBlockError{Msg: "no RAM blocks in the output"}
	}
	return blocks, nil
}

// parseRAMBlock reads the fields from the right: the name is right-aligned
// and could in principle hold a space, the rest cannot.
func parseRAMBlock(f []string) (RAMBlock, error) {
	var b RAMBlock
	if len(f) < 6 {
		return b, fmt.Errorf("want name, page size, offset, used, total")
	}
	n := len(f)
	var err error
	for _, x := range []struct {
		s string
		v *uint64
	}{{f[n-3], &b.Offset}, {f[n-2], &b.Used}, {f[n-1], &b.Total}} {
		hex, ok := strings.CutPrefix(x.s, "0x")
		if !ok {
			return b, fmt.Errorf("%q is not a 0x number", x.s)
		}
		if *x.v, err = strconv.ParseUint(hex, 16, 64); err != nil {
			return b, fmt.Errorf("%q is not a 0x number", x.s)
		}
	}
	if b.PageSize, err = parseSize(f[n-5], f[n-4]); err != nil {
		return b, err
	}
	if b.Used > b.Total {
		return b, fmt.Errorf("used 0x%x exceeds total 0x%x", b.Used, b.Total)
	}
	b.Name = strings.Join(f[:n-5], " ")
	return b, nil
}

// sizeUnits are the units of QEMU's size_to_str.
var sizeUnits = map[string]float64{
	"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50, "EiB": 1 << 60,
}

// parseSize reads size_to_str's "4 KiB" (it prints up to 3 significant
// digits, so "1.5 MiB" is possible).
func parseSize(num, unit string) (uint64, error) {
	mul, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("unknown size unit %q", unit)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) || v*mul >= 1<<63 {
		return 0, fmt.Errorf("bad size %q", num+" "+unit)
	}
	return uint64(v * mul), nil
}
