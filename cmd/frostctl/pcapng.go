package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"time"
)

// pcapngFile writes frostctl monitor network's capture: a section header,
// one interface description block (Ethernet, nanosecond timestamps) and an
// enhanced packet block per frame, each with a comment naming the process
// and the direction flag Wireshark shows. The writer is written here from
// the pcapng specification (draft-ietf-opsawg-pcapng) rather than taken from
// gopacket: its layers package costs every frostctl command ~20–30 ms of
// package init, for three block layouts. Every block goes out in one Write
// to the file itself, with no buffer in this process, so a capture cut short
// by ^C or SIGKILL ends after its last whole block and stays a valid file.
type pcapngFile struct {
	w io.Writer
	n int
}

// Block types, option codes and values from the pcapng specification.
const (
	blockSHB = 0x0A0D0D0A // section header; its bytes read the same in either byte order
	blockIDB = 1          // interface description
	blockEPB = 6          // enhanced packet

	byteOrderMagic = 0x1A2B3C4D // written little-endian: readers learn the byte order from it
	linkEthernet   = 1          // LINKTYPE_ETHERNET
	snapUnlimited  = 0          // IDB SnapLen 0: frames are never cut

	optEnd     = 0
	optComment = 1

	optSHBHardware = 2
	optSHBOS       = 3
	optSHBUserAppl = 4

	optIfName        = 2
	optIfDescription = 3
	optIfTsresol     = 9  // one byte: 9 means 10^-9 s, as EPB timestamps are UnixNano
	optIfFilter      = 11 // first byte is the filter kind: 0, a libpcap filter string

	optEPBFlags     = 2
	epbFlagInbound  = 1
	epbFlagOutbound = 2
)

// pcapngHeader is what a capture starts with, apart from the writer: the
// section and the one interface's identity.
type pcapngHeader struct {
	application, os, hardware string
	ifName, description       string
	filter                    string // empty: no if_filter option
}

func newPcapng(w io.Writer, description, filter string) (*pcapngFile, error) {
	h := pcapngHeader{
		application: "frostctl monitor network", os: runtime.GOOS, hardware: runtime.GOARCH,
		ifName: "frost", description: description, filter: filter,
	}
	b, err := h.appendBlocks(nil)
	if err != nil {
		return nil, fmt.Errorf("pcapng: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("pcapng: writing the header: %w", err)
	}
	return &pcapngFile{w: w}, nil
}

// appendBlocks appends the section header block and the interface
// description block.
func (h pcapngHeader) appendBlocks(b []byte) ([]byte, error) {
	var shb []byte
	shb = binary.LittleEndian.AppendUint32(shb, byteOrderMagic)
	shb = binary.LittleEndian.AppendUint16(shb, 1) // major version
	shb = binary.LittleEndian.AppendUint16(shb, 0) // minor version
	// Section length -1: not given, so the file can grow while written.
	shb = binary.LittleEndian.AppendUint64(shb, ^uint64(0))
	var err error
	for _, o := range []struct {
		code uint16
		v    string
	}{{optSHBHardware, h.hardware}, {optSHBOS, h.os}, {optSHBUserAppl, h.application}} {
		if shb, err = appendOption(shb, o.code, []byte(o.v)); err != nil {
			return nil, err
		}
	}
	shb = appendOptEnd(shb)
	b = appendBlock(b, blockSHB, shb)

	var idb []byte
	idb = binary.LittleEndian.AppendUint16(idb, linkEthernet)
	idb = binary.LittleEndian.AppendUint16(idb, 0) // reserved
	idb = binary.LittleEndian.AppendUint32(idb, snapUnlimited)
	if idb, err = appendOption(idb, optIfName, []byte(h.ifName)); err != nil {
		return nil, err
	}
	if idb, err = appendOption(idb, optIfDescription, []byte(h.description)); err != nil {
		return nil, err
	}
	if h.filter != "" {
		if idb, err = appendOption(idb, optIfFilter, append([]byte{0}, h.filter...)); err != nil {
			return nil, err
		}
	}
	if idb, err = appendOption(idb, optIfTsresol, []byte{9}); err != nil {
		return nil, err
	}
	idb = appendOptEnd(idb)
	return appendBlock(b, blockIDB, idb), nil
}

// write appends one frame on interface 0. out says it left the guest.
func (p *pcapngFile) write(ts time.Time, data []byte, out bool, comment string) error {
	b, err := appendEPB(nil, ts, data, out, comment)
	if err != nil {
		return fmt.Errorf("pcapng: frame %d: %w", p.n+1, err)
	}
	if _, err := p.w.Write(b); err != nil {
		return fmt.Errorf("pcapng: writing frame %d: %w", p.n+1, err)
	}
	p.n++
	return nil
}

// appendEPB appends an enhanced packet block for a whole frame (captured
// length equals the length on the wire) with its comment and direction.
func appendEPB(b []byte, ts time.Time, data []byte, out bool, comment string) ([]byte, error) {
	// A block's length field is 32 bits; keep well inside it so the sums
	// below cannot wrap.
	if len(data) > 1<<30 {
		return nil, fmt.Errorf("frame of %d bytes is too large for a block", len(data))
	}
	le := binary.LittleEndian
	body := make([]byte, 0, 20+len(data)+3+12+len(comment)+3+8+4)
	body = le.AppendUint32(body, 0) // interface 0
	t := uint64(ts.UnixNano())
	body = le.AppendUint32(body, uint32(t>>32))
	body = le.AppendUint32(body, uint32(t))
	body = le.AppendUint32(body, uint32(len(data))) // captured
	body = le.AppendUint32(body, uint32(len(data))) // on the wire
	body = appendPadded(body, data)
	var err error
	if comment != "" {
		if body, err = appendOption(body, optComment, []byte(comment)); err != nil {
			return nil, err
		}
	}
	flags := uint32(epbFlagInbound)
	if out {
		flags = epbFlagOutbound
	}
	body, _ = appendOption(body, optEPBFlags, le.AppendUint32(nil, flags))
	body = appendOptEnd(body)
	return appendBlock(b, blockEPB, body), nil
}

// appendBlock frames a body (already a multiple of 4 bytes) as a block:
// type, total length, body, total length again so readers can walk back.
func appendBlock(b []byte, typ uint32, body []byte) []byte {
	total := uint32(12 + len(body))
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = binary.LittleEndian.AppendUint32(b, total)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, total)
}

// appendOption appends one option: code, length, value padded to 4 bytes.
// An option's length is 16 bits, so a longer value (a huge comment or
// filter) is an error rather than a length that wraps and corrupts the file.
func appendOption(b []byte, code uint16, v []byte) ([]byte, error) {
	if len(v) > 0xffff {
		return nil, fmt.Errorf("option %d of %d bytes: an option holds at most 65535", code, len(v))
	}
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return appendPadded(b, v), nil
}

// appendOptEnd ends an option list (opt_endofopt: code 0, length 0).
func appendOptEnd(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, optEnd)
}

// appendPadded appends v and zeros up to the next multiple of 4 bytes.
func appendPadded(b, v []byte) []byte {
	b = append(b, v...)
	var zeros [3]byte
	return append(b, zeros[:(4-len(v)&3)&3]...)
}
