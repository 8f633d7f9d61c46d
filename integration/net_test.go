package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/frostvmi/frost/integration/guest/minint"
)

// TestNetworkFilterDump boots mini-NT under libvirt with an e1000 on
// QEMU's user-mode network and QEMU's filter-dump on its netdev, and checks
// the guest's network report against the dump frame by frame: the NIC
// comes up with the MAC QEMU gave it; the miniport's start-up check sends
// its two ARP frames (one chain of two NBLs, each frame in two MDLs at
// DataOffset 8), slirp answers the request for the gateway, and every
// frame the guest reports sending or receiving is in the dump, in order,
// with the same length and hash, and the dump holds no frame the guest
// did not report.
func TestNetworkFilterDump(t *testing.T) {
	out := requireGuest(t)
	l := setupLibvirt(t)

	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	lock, err := minint.LockTCG(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Unlock() })
	clearStaleDomains(t, l)

	dump := filepath.Join(t.TempDir(), "oracle.pcap")
	name := fmt.Sprintf("%snet-%d", testDomainPrefix, os.Getpid())
	d, err := minint.NewDomain(name, minint.Config{GuestDir: out, Seed: minint.Seed(17), Network: true, FilterDump: dump})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Remove() })
	domXML, err := d.XML()
	if err != nil {
		t.Fatal(err)
	}
	dom, err := l.DomainDefineXML(domXML)
	if err != nil {
		t.Fatalf("defining the domain: %v\n%s", err, domXML)
	}
	t.Cleanup(func() {
		if err := removeDomain(l, dom); err != nil {
			t.Errorf("cleaning up domain %s: %v", name, err)
		}
	})
	if err := l.DomainCreate(dom); err != nil {
		t.Fatalf("starting the domain: %v", err)
	}
	alive := func() error {
		state, _, err := l.DomainGetState(dom, 0)
		if err != nil {
			return fmt.Errorf("domain state: %w", err)
		}
		if libvirt.DomainState(state) != libvirt.DomainRunning {
			return fmt.Errorf("domain %s left the running state (state %d)", name, state)
		}
		return nil
	}
	// The gateway's ARP reply, then the end of boot (the network's start
	// did not disturb the rest), then netclient's one round done: no frame
	// is in flight when QEMU stops, so the dump and the report hold the
	// same frames.
	for _, ev := range []string{"net-rx", "ready", "netclient-idle"} {
		if _, err := minint.WaitSerialFile(ctx, d.SerialPath(), minint.MatchEvent(ev), alive); err != nil {
			t.Fatalf("waiting for %s: %v\nserial log:\n%s", ev, err, serialTail(d.SerialPath()))
		}
	}
	// Stopping QEMU closes the dump; the report is complete up to here.
	if err := l.DomainDestroy(dom); err != nil {
		t.Fatalf("destroying the domain: %v", err)
	}
	f, err := os.Open(d.SerialPath())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := minint.ParseReport(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	up, err := rep.NetUp()
	if err != nil {
		t.Fatal(err)
	}
	if up.Link != "up" || up.BAR0 == 0 {
		t.Errorf("net-up: %+v", up)
	}
	tx, err := rep.NetFrames("tx")
	if err != nil {
		t.Fatal(err)
	}
	rx, err := rep.NetFrames("rx")
	if err != nil {
		t.Fatal(err)
	}
	if len(tx) < 2 {
		t.Fatalf("the guest reports %d frames sent, want the start-up check's 2 ARP frames", len(tx))
	}
	for _, fr := range tx[:2] {
		if fr.Proto != "arp" || fr.Len != 42 || fr.MDLs != 2 || fr.Offset != 8 {
			t.Errorf("start-up check frame %+v, want a 42-byte arp in 2 MDLs at offset 8", fr)
		}
	}
	if len(rx) == 0 || rx[0].Proto != "arp" {
		t.Fatalf("first received frame %+v, want the gateway's ARP reply", rx)
	}
	if sent := len(rep.All("net-check")); sent != 2 {
		t.Errorf("%d net-check completions, want 2", sent)
	}

	frames, truncated, err := minint.ReadPcap(dump)
	if err != nil {
		t.Fatal(err)
	}
	if truncated {
		t.Errorf("the dump ends inside a record")
	}
	// filter-dump records both directions of the netdev in one stream:
	// the guest's frames are those from its MAC.
	var dumpTx, dumpRx [][]byte
	for _, b := range frames {
		if len(b) >= 12 && bytes.Equal(b[6:12], up.MAC) {
			dumpTx = append(dumpTx, b)
		} else {
			dumpRx = append(dumpRx, b)
		}
	}
	compare := func(dir string, report []minint.NetFrame, dumped [][]byte) {
		t.Helper()
		if len(report) != len(dumped) {
			t.Errorf("%s: the guest reports %d frames, the dump holds %d", dir, len(report), len(dumped))
		}
		for i := 0; i < min(len(report), len(dumped)); i++ {
			r, b := report[i], dumped[i]
			t.Logf("%s %d: len=%d hash=%#08x proto=%s mdls=%d off=%d", dir, r.Seq, r.Len, r.Hash, r.Proto, r.MDLs, r.Offset)
			if r.Len != len(b) || r.Hash != minint.FrameHash(b) || r.Proto != minint.FrameProto(b) {
				t.Errorf("%s frame %d: guest len=%d hash=%#08x proto=%s, dump len=%d hash=%#08x proto=%s (% x)", dir, i+1,
					r.Len, r.Hash, r.Proto, len(b), minint.FrameHash(b), minint.FrameProto(b), b)
			}
		}
	}
	compare("tx", tx, dumpTx)
	compare("rx", rx, dumpRx)
	t.Logf("net-up %+v; %d frames sent, %d received, all in the dump", up, len(tx), len(rx))
}
