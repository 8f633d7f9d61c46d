package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// A fake MonitorService that streams a scripted capture: frostctl's
// lines, its pcapng and its summary are checked against what was sent.

type netStreams struct {
	pb.UnimplementedMonitorServiceServer
	frames []*pb.NetworkFrame
	hang   bool // after the frames, wait for the client to go
	got    chan *pb.MonitorNetworkRequest
}

func (n *netStreams) MonitorNetwork(req *pb.MonitorNetworkRequest, s pb.MonitorService_MonitorNetworkServer) error {
	n.got <- proto.Clone(req).(*pb.MonitorNetworkRequest)
	started := &pb.NetworkStarted{Layout: "_NET_BUFFER_LIST (kernel PDB)", Breakpoints: []*pb.NetworkBreakpoint{
		{Direction: pb.FrameDirection_FRAME_DIRECTION_SEND, Function: "nt!NdisSendNetBufferLists", Address: 0xfffff80000012340},
		{Direction: pb.FrameDirection_FRAME_DIRECTION_RECEIVE, Function: "nt!NdisMIndicateReceiveNetBufferLists", Address: 0xfffff80000012400},
	}}
	if err := s.Send(&pb.MonitorNetworkResponse{Event: &pb.MonitorNetworkResponse_Started{Started: started}}); err != nil {
		return err
	}
	for _, f := range n.frames {
		if err := s.Send(&pb.MonitorNetworkResponse{Event: &pb.MonitorNetworkResponse_Frame{Frame: f}}); err != nil {
			return err
		}
	}
	if err := s.Send(&pb.MonitorNetworkResponse{Event: &pb.MonitorNetworkResponse_Counters{Counters: &pb.NetworkCounters{
		Calls: 3, Frames: uint64(len(n.frames)), Lost: 2, Unreadable: 1, UnreadableReasons: map[string]uint64{"translate: PTE not present": 1}}}}); err != nil {
		return err
	}
	if n.hang {
		<-s.Context().Done()
	}
	return nil
}

func startNetServer(t *testing.T, n *netStreams) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "frostd.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterMonitorServiceServer(srv, n)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return sock
}

func testFrame(t *testing.T, payload string, sport uint16) []byte {
	buf := gopacket.NewSerializeBuffer()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(10, 0, 2, 15), DstIP: net.IPv4(10, 0, 2, 2)}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 9999}
	_ = udp.SetNetworkLayerForChecksum(ip)
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}, DstMAC: net.HardwareAddr{0x52, 0x55, 10, 0, 2, 2}, EthernetType: layers.EthernetTypeIPv4},
		ip, udp, gopacket.Payload(payload))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// scripted is netclient's send, the kernel's receive, an unreadable
// frame, and one more send (odd length: the block's padding).
func scripted(t *testing.T) []*pb.NetworkFrame {
	at := time.Date(2026, 12, 6, 15, 0, 0, 123456789, time.UTC)
	mk := func(seq uint64, dir pb.FrameDirection, pid, tid uint32, proc string, data []byte, unreadable string) *pb.NetworkFrame {
		return &pb.NetworkFrame{Sequence: seq, Time: timestamppb.New(at.Add(time.Duration(seq) * time.Millisecond)), Direction: dir,
			Interface: 0xffffa00000123000, Pid: pid, Tid: tid, ProcessName: proc, Length: uint32(len(data) + len(unreadable)),
			Data: data, Unreadable: unreadable, Summary: "10.0.2.15:1025 > 10.0.2.2:9999 UDP", Layers: []string{"Ethernet", "IPv4", "UDP"}}
	}
	out, in := pb.FrameDirection_FRAME_DIRECTION_SEND, pb.FrameDirection_FRAME_DIRECTION_RECEIVE
	return []*pb.NetworkFrame{
		mk(1, out, 288, 292, "netclient.exe", testFrame(t, "datagram 1", 1025), ""),
		mk(2, in, 4, 8, "System", testFrame(t, "reply 1", 9999), ""),
		mk(3, in, 4, 8, "System", nil, "nt: frame of NET_BUFFER 0x1: MDL 1 at 0x2: not present"),
		mk(4, out, 288, 292, "netclient.exe", testFrame(t, "datagram 22", 1025), ""),
	}
}

func readPcapng(t *testing.T, path string) ([][]byte, []gopacket.CaptureInfo) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type %v", r.LinkType())
	}
	var data [][]byte
	var cis []gopacket.CaptureInfo
	for {
		d, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return data, cis
		}
		if err != nil {
			t.Fatalf("packet %d: %v", len(data), err)
		}
		data, cis = append(data, d), append(cis, ci)
	}
}

// -w writes every readable frame, byte for byte with its time, and tshark
// reads the file and shows each frame's comment and direction.
func TestMonitorNetworkPcapng(t *testing.T) {
	bin := buildFrostctl(t)
	n := &netStreams{frames: scripted(t), got: make(chan *pb.MonitorNetworkRequest, 1)}
	sock := startNetServer(t, n)
	file := filepath.Join(t.TempDir(), "cap.pcapng")
	args := []string{"--addr", sock, "monitor", "network", "--vm", "win10", "--process", "netclient.exe", "--pid", "4",
		"--filter", "udp and port 9999", "--stack", "-w", file}
	stdout, stderr, code := runBinary(t, bin, nil, args...)
	t.Logf("stdout:\n%sstderr:\n%s", stdout, stderr)
	if code != 1 || !strings.Contains(stderr, "frostd ended the network monitor of win10") {
		t.Errorf("exit %d when frostd ended the stream", code)
	}
	req := <-n.got
	if req.GetVm() != "win10" || req.GetFilter() != "udp and port 9999" || !req.GetStack() || !req.GetIncludeFrames() ||
		len(req.GetProcesses()) != 1 || req.GetProcesses()[0] != "netclient.exe" || len(req.GetPids()) != 1 || req.GetPids()[0] != 4 {
		t.Errorf("request %v", req)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 || !hasAll(lines[0], "15:00:00.124", "out", "netclient.exe(288) tid 292", "10.0.2.15:1025 > 10.0.2.2:9999 UDP") ||
		!hasAll(lines[1], "in ", "System(4) tid 8") {
		t.Errorf("lines %q", lines)
	}
	if !hasAll(stderr, "monitoring nt!NdisSendNetBufferLists at 0xfffff80000012340 (out)", "4 frames (1 unreadable), 3 written to "+file,
		"2 lost", "unreadable 1: translate: PTE not present") {
		t.Errorf("stderr lacks the start or the summary")
	}
	data, cis := readPcapng(t, file)
	want := n.frames
	want = []*pb.NetworkFrame{want[0], want[1], want[3]}
	if len(data) != len(want) {
		t.Fatalf("%d packets, want %d", len(data), len(want))
	}
	for i, w := range want {
		if !bytes.Equal(data[i], w.GetData()) || !cis[i].Timestamp.Equal(w.GetTime().AsTime()) || cis[i].Length != len(w.GetData()) {
			t.Errorf("packet %d: %d bytes at %v, want %d at %v", i, len(data[i]), cis[i].Timestamp, len(w.GetData()), w.GetTime().AsTime())
		}
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("no tshark (scripts/deps.sh installs it): the file was checked with pcapgo only")
	}
	// frame.p2p_dir is Wireshark's reading of epb_flags: 0 sent, 1
	// received.
	ts := exec.Command("tshark", "-r", file, "-T", "fields", "-e", "frame.comment", "-e", "frame.p2p_dir", "-e", "udp.srcport")
	var tserr bytes.Buffer
	ts.Stderr = &tserr
	out, err := ts.Output()
	t.Logf("tshark:\n%s%s", out, tserr.String())
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(rows) != 3 ||
		!hasAll(rows[0], "dir=out pid=288 process=netclient.exe tid=292", "\t0\t1025") ||
		!hasAll(rows[1], "dir=in pid=4 process=System tid=8", "\t1\t9999") ||
		!hasAll(rows[2], "dir=out pid=288", "seq=4") {
		t.Errorf("tshark rows %q", rows)
	}
}

// --count stops after N frames with exit 0; --json prints the API's
// messages as JSON lines.
func TestMonitorNetworkCountAndJSON(t *testing.T) {
	bin := buildFrostctl(t)
	n := &netStreams{frames: scripted(t), hang: true, got: make(chan *pb.MonitorNetworkRequest, 1)}
	sock := startNetServer(t, n)
	stdout, stderr, code := runBinary(t, bin, nil, "--addr", sock, "monitor", "network", "--vm", "win10", "--count", "2", "--json")
	t.Logf("stdout:\n%sstderr:\n%s", stdout, stderr)
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	if req := <-n.got; !req.GetIncludeFrames() {
		t.Error("--json did not ask for the frames' bytes")
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"started"`) || !strings.Contains(lines[2], `"process_name":"System"`) {
		t.Errorf("lines %q", lines)
	}
}

// A capture killed with SIGKILL mid-stream is a valid file holding every
// frame written before the kill.
func TestMonitorNetworkPcapngSurvivesKill(t *testing.T) {
	bin := buildFrostctl(t)
	n := &netStreams{frames: scripted(t), hang: true, got: make(chan *pb.MonitorNetworkRequest, 1)}
	sock := startNetServer(t, n)
	file := filepath.Join(t.TempDir(), "cap.pcapng")
	cmd := exec.Command(bin, "--addr", sock, "monitor", "network", "--vm", "win10", "-w", file)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The fourth line is printed after the third frame was written (a
	// frame is written after its line): wait for the fourth frame's line.
	buf := make([]byte, 0, 4096)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for bytes.Count(buf, []byte("\n")) < 4 && ctx.Err() == nil {
		tmp := make([]byte, 1024)
		k, err := stdout.Read(tmp)
		if err != nil {
			t.Fatalf("reading frostctl's output: %v (%q)", err, buf)
		}
		buf = append(buf, tmp[:k]...)
	}
	// The last line's frame may still be in flight: wait for it in the
	// file, then kill.
	for ctx.Err() == nil {
		if fi, err := os.Stat(file); err == nil && fi.Size() > 0 {
			if d, _ := readPcapngLenient(file); d == 3 {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	data, _ := readPcapng(t, file)
	if len(data) != 3 {
		t.Errorf("%d packets after SIGKILL, want 3", len(data))
	}
}

// readPcapngLenient counts the packets of a file still being written.
func readPcapngLenient(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			return n, err
		}
		n++
	}
}
