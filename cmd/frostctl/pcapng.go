package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// pcapngFile writes frostctl monitor network's capture. gopacket's
// NgWriter writes the section header and the one interface description
// block (Ethernet); its WritePacket has no per-packet options, so the
// enhanced packet blocks, each with a comment naming the process and the
// direction flag Wireshark shows, are written here, each in one Write to
// the file itself: no buffer in this process, so a capture cut short by
// ^C or SIGKILL ends after its last whole block and stays a valid file.
type pcapngFile struct {
	w io.Writer
	n int
}

// pcapng block and option codes (the pcapng specification,
// draft-ietf-opsawg-pcapng): enhanced packet block, opt_comment,
// epb_flags with its inbound/outbound direction bits.
const (
	blockEPB        = 6
	optEnd          = 0
	optComment      = 1
	optEPBFlags     = 2
	epbFlagInbound  = 1
	epbFlagOutbound = 2
)

func newPcapng(w io.Writer, description, filter string) (*pcapngFile, error) {
	ng, err := pcapgo.NewNgWriterInterface(w, pcapgo.NgInterface{
		Name: "frost", Description: description, Filter: filter, LinkType: layers.LinkTypeEthernet,
		TimestampResolution: 9, // nanoseconds: EPB timestamps are UnixNano
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "frostctl monitor network", OS: runtime.GOOS, Hardware: runtime.GOARCH}})
	if err != nil {
		return nil, fmt.Errorf("pcapng: %w", err)
	}
	if err := ng.Flush(); err != nil {
		return nil, fmt.Errorf("pcapng: %w", err)
	}
	return &pcapngFile{w: w}, nil
}

// write appends one frame on interface 0. out says it left the guest.
func (p *pcapngFile) write(ts time.Time, data []byte, out bool, comment string) error {
	pad := func(n int) int { return (4 - n&3) & 3 }
	opts := make([]byte, 0, 16+len(comment)+3)
	opts = binary.LittleEndian.AppendUint16(opts, optComment)
	opts = binary.LittleEndian.AppendUint16(opts, uint16(len(comment)))
	opts = append(opts, comment...)
	opts = append(opts, make([]byte, pad(len(comment)))...)
	flags := uint32(epbFlagInbound)
	if out {
		flags = epbFlagOutbound
	}
	opts = binary.LittleEndian.AppendUint16(opts, optEPBFlags)
	opts = binary.LittleEndian.AppendUint16(opts, 4)
	opts = binary.LittleEndian.AppendUint32(opts, flags)
	opts = binary.LittleEndian.AppendUint32(opts, optEnd) // code 0, length 0
	total := 28 + len(data) + pad(len(data)) + len(opts) + 4
	b := make([]byte, 0, total)
	le := binary.LittleEndian
	b = le.AppendUint32(b, blockEPB)
	b = le.AppendUint32(b, uint32(total))
	b = le.AppendUint32(b, 0) // interface 0
	t := uint64(ts.UnixNano())
	b = le.AppendUint32(b, uint32(t>>32))
	b = le.AppendUint32(b, uint32(t))
	b = le.AppendUint32(b, uint32(len(data))) // captured
	b = le.AppendUint32(b, uint32(len(data))) // on the wire
	b = append(b, data...)
	b = append(b, make([]byte, pad(len(data)))...)
	b = append(b, opts...)
	b = le.AppendUint32(b, uint32(total))
	if _, err := p.w.Write(b); err != nil {
		return fmt.Errorf("pcapng: writing frame %d: %w", p.n+1, err)
	}
	p.n++
	return nil
}
