package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"regexp"
	"testing"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// benchRequested says whether go test's -bench pattern names what: the
// procdump measurement needs the booted guest of its integration test,
// so it runs as that test's subtest when asked for, not as a Benchmark
// function of its own.
func benchRequested(what string) bool {
	f := flag.Lookup("test.bench")
	if f == nil || f.Value.String() == "" {
		return false
	}
	re, err := regexp.Compile(f.Value.String())
	return err == nil && re.MatchString(what)
}

// benchProcdump times a whole DumpProcess of writer.exe (pause, plan,
// every page, release), read to its end, beside what a client would do
// without it: hold the guest (CPUService.Hold) and read the same pages,
// the dump's memory ranges, with ReadVirtual in 1 MiB calls. Same frostd,
// same guest, same run, alternating.
func benchProcdump(ctx context.Context, t *testing.T, fd *frostdProc, vm string, pid uint32) {
	dc := pb.NewDumpServiceClient(fd.cc)
	mc := pb.NewMemoryServiceClient(fd.cc)
	cpu := pb.NewCPUServiceClient(fd.cc)
	var file []byte
	dump := func() ([]byte, error) {
		s, err := dc.DumpProcess(ctx, &pb.DumpProcessRequest{Vm: vm, Pid: pid})
		if err != nil {
			return nil, err
		}
		var out []byte
		for {
			m, err := s.Recv()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			out = append(out, m.GetChunk()...)
		}
	}
	file, err := dump()
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := memory64Ranges(file)
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, r := range ranges {
		total += r[1]
	}
	read := func() error {
		h, err := cpu.Hold(ctx)
		if err != nil {
			return err
		}
		if err := h.Send(&pb.HoldRequest{Vm: vm}); err != nil {
			return err
		}
		if _, err := h.Recv(); err != nil {
			return err
		}
		for _, r := range ranges {
			for off := uint64(0); off < r[1]; off += 1 << 20 {
				n := min(r[1]-off, 1<<20)
				resp, err := mc.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: vm, Space: &pb.AddressSpace{Space: &pb.AddressSpace_Pid{Pid: pid}}, Address: r[0] + off, Length: n})
				if err != nil {
					return err
				}
				if uint64(len(resp.GetData())) != n {
					return fmt.Errorf("ReadVirtual at %#x: %d bytes, want %d", r[0]+off, len(resp.GetData()), n)
				}
			}
		}
		if err := h.CloseSend(); err != nil {
			return err
		}
		_, err = h.Recv() // the release
		return err
	}
	var dumpRes, readRes testing.BenchmarkResult
	for range 2 {
		dumpRes = testing.Benchmark(func(b *testing.B) {
			b.SetBytes(int64(total))
			for b.Loop() {
				if _, err := dump(); err != nil {
					b.Fatal(err)
				}
			}
		})
		readRes = testing.Benchmark(func(b *testing.B) {
			b.SetBytes(int64(total))
			for b.Loop() {
				if err := read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	t.Logf("writer.exe: %d ranges, %d pages (%.2f MiB) of memory, a %d-byte minidump", len(ranges), total/4096, float64(total)/(1<<20), len(file))
	t.Logf("BenchmarkProcdump/DumpProcess     %s", dumpRes)
	t.Logf("BenchmarkProcdump/HoldReadVirtual %s", readRes)
	t.Logf("DumpProcess takes %.2fx the time of Hold+ReadVirtual of the same pages", float64(dumpRes.NsPerOp())/float64(readRes.NsPerOp()))
}

// memory64Ranges reads a minidump's Memory64ListStream: each range's
// base and size.
func memory64Ranges(f []byte) ([][2]uint64, error) {
	le := binary.LittleEndian
	if len(f) < 32 || le.Uint32(f) != 0x504d444d {
		return nil, fmt.Errorf("not a minidump")
	}
	n, dir := le.Uint32(f[8:]), le.Uint32(f[12:])
	for i := uint32(0); i < n; i++ {
		e := f[dir+12*i:]
		if le.Uint32(e) != 9 { // Memory64ListStream
			continue
		}
		s := f[le.Uint32(e[8:]):]
		cnt := le.Uint64(s)
		var out [][2]uint64
		for j := uint64(0); j < cnt; j++ {
			d := s[16+16*j:]
			out = append(out, [2]uint64{le.Uint64(d), le.Uint64(d[8:])})
		}
		return out, nil
	}
	return nil, fmt.Errorf("no Memory64ListStream")
}
