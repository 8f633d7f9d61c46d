package main

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// How a dump reaches its file.
const (
	viaAuto   = "auto"   // frostd writes the file when it may, else stream
	viaFile   = "frostd" // frostd writes the file, or the dump fails
	viaStream = "stream" // the bytes come over gRPC and frostctl writes them
)

// errNotByFrostd is a refusal of DumpPhysicalToFile before it wrote
// anything: the caller streams instead (or, for --via frostd, says why).
type errNotByFrostd struct{ err error }

func (e *errNotByFrostd) Error() string { return e.err.Error() }
func (e *errNotByFrostd) Unwrap() error { return e.err }

// canAskFrostd says whether a file dump is worth asking for: the output is
// a file (not stdout) and frostd is reached over its unix socket, so it
// runs on this host and the kernel tells it who we are.
func (c *cli) canAskFrostd(out string) bool {
	return out != "-" && !strings.HasPrefix(c.conn.addr, "tcp:")
}

// dumpByFrostd asks frostd to write the ranges into the sink's temporary
// file (created by this process, so owned by our uid, empty, 0600): the
// bytes go from the guest's RAM mapping to the file in frostd, never over
// the socket. It returns the file's size and the bytes frostd could not
// read, or an *errNotByFrostd when frostd refused before writing.
func dumpByFrostd(ctx context.Context, dump pb.DumpServiceClient, vm string, ranges []*pb.PhysicalRange, header []byte, live bool, sink *dumpSink, bar *progress) (size, unread uint64, err error) {
	path, err := filepath.Abs(sink.f.Name())
	if err != nil {
		return 0, 0, &errNotByFrostd{err}
	}
	layout := pb.DumpFileLayout_DUMP_FILE_LAYOUT_PACKED
	if header == nil {
		layout = pb.DumpFileLayout_DUMP_FILE_LAYOUT_AT_ADDRESS
	}
	stream, err := dump.DumpPhysicalToFile(ctx, &pb.DumpPhysicalToFileRequest{
		Vm: vm, Path: path, Ranges: ranges, Layout: layout, Header: header, Live: live,
	})
	if err != nil {
		return 0, 0, err
	}
	var shown uint64
	for first := true; ; first = false {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return 0, 0, errors.New("frostd ended the dump to a file without saying it was done")
		}
		if err != nil {
			// A refusal comes before any write: the file is as we made it.
			switch status.Code(err) {
			case codes.PermissionDenied, codes.Unimplemented:
				if first {
					return 0, 0, &errNotByFrostd{err}
				}
			}
			return 0, 0, err
		}
		bar.add(r.GetBytesWritten() - shown)
		shown = r.GetBytesWritten()
		if r.GetDone() {
			return r.GetFileSize(), r.GetUnread(), nil
		}
	}
}
