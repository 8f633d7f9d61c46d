package api

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
)

// fileDumpChunk is one read from the data plane and one pwrite: large, so
// a 256 MiB guest is 32 writes, and small enough that two in flight (one
// being read while the other is written) cost 16 MiB.
const fileDumpChunk = 8 << 20

// fileDumpProgress is how often, in range bytes, a progress message goes
// out.
const fileDumpProgress = 32 << 20

// DumpPhysicalToFile writes the ranges into the caller's file from the
// data plane: each chunk is copied once out of the guest's RAM and written
// with pwrite, the next chunk read while the last is written. The file
// rule (dump.proto) is what lets a root frostd do this for an unprivileged
// client: it writes only into an empty regular file the peer's uid owns.
func (s *dumpService) DumpPhysicalToFile(req *pb.DumpPhysicalToFileRequest, stream pb.DumpService_DumpPhysicalToFileServer) (err error) {
	ctx := stream.Context()
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return err
	}
	ranges := req.GetRanges()
	if err := checkDumpRanges(ranges); err != nil {
		return err
	}
	switch req.GetLayout() {
	case pb.DumpFileLayout_DUMP_FILE_LAYOUT_PACKED:
	case pb.DumpFileLayout_DUMP_FILE_LAYOUT_AT_ADDRESS:
		if len(req.GetHeader()) > 0 {
			return invalid("header", "a file laid out at guest-physical addresses has no header (its offset 0 is GPA 0)")
		}
	default:
		return invalid("layout", "PACKED (header, then the ranges back to back) or AT_ADDRESS (each range at its GPA)")
	}
	fd, err := openCallersFile(peerCredentials(peer.FromContext(ctx)), req.GetPath())
	if err != nil {
		return err
	}
	defer syscall.Close(fd)

	resp := &pb.DumpPhysicalToFileResponse{}
	if !req.GetLive() {
		pctx, cancel := context.WithTimeout(ctx, session.HoldTimeout)
		h, herr := vm.Hold(pctx)
		cancel()
		if herr != nil {
			return targetError(vm.Name, "pausing for a consistent dump (live dumps it running)", herr)
		}
		resp.PausedRunningGuest = h.WasRunning
		// From here the guest is stopped: whatever ends the call, it is
		// let go as it was found.
		defer func() {
			if rerr := h.Release(context.WithoutCancel(ctx)); rerr != nil {
				s.c.Log.Error("releasing the guest after a dump to a file", "vm", vm.Name, "error", rerr)
				err = errors.Join(err, targetError(vm.Name, "releasing the guest after the dump of", rerr))
			}
		}()
	}

	if err := pwriteAll(fd, req.GetHeader(), 0); err != nil {
		return fileError(req.GetPath(), err)
	}
	fw := &fileDump{ctx: ctx, vm: vm, fd: fd, path: req.GetPath(), progress: func(n uint64) error {
		resp.BytesWritten = n
		return stream.Send(resp)
	}}
	off := uint64(len(req.GetHeader()))
	for _, r := range ranges {
		if req.GetLayout() == pb.DumpFileLayout_DUMP_FILE_LAYOUT_AT_ADDRESS {
			off = r.GetStart()
		}
		if err := fw.copyRange(r.GetStart(), r.GetEnd(), off); err != nil {
			return err
		}
		off += r.GetEnd() - r.GetStart()
	}
	// An AT_ADDRESS file ends at the last range's end, even when its last
	// bytes were never written (a range of holes).
	if err := syscall.Ftruncate(fd, int64(off)); err != nil {
		return fileError(req.GetPath(), err)
	}
	resp.BytesWritten, resp.Done, resp.FileSize, resp.Unread = fw.written, true, off, fw.unread
	return stream.Send(resp)
}

// checkDumpRanges refuses ranges a file cannot hold: out of order,
// overlapping, or empty-ended backwards.
func checkDumpRanges(ranges []*pb.PhysicalRange) error {
	if len(ranges) == 0 {
		return invalid("ranges", "name the guest-physical ranges to write (GetPhysicalMap lists them)")
	}
	var end uint64
	for i, r := range ranges {
		if r.GetEnd() <= r.GetStart() || (i > 0 && r.GetStart() < end) {
			return invalid("ranges", "[%#x, %#x) is empty, backwards, or not after the range before it", r.GetStart(), r.GetEnd())
		}
		end = r.GetEnd()
	}
	return nil
}

// openCallersFile opens path for writing if the rule allows it: asked over
// frostd's unix socket, an absolute path, not a symlink (O_NOFOLLOW), and
// the opened file (fstat, so no swap between check and write) on a file
// system for plain files (dumpFileSystems), regular, empty, with one link
// and owned by the caller's uid. O_NONBLOCK keeps a
// FIFO planted at the path from blocking the open; it is then refused as
// not regular.
func openCallersFile(cred *PeerAddr, path string) (int, error) {
	if cred == nil {
		return -1, apiError(codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT,
			"dumps to a file are served only over frostd's unix socket, where the kernel names the caller; stream the dump instead")
	}
	if !filepath.IsAbs(path) {
		return -1, invalid("path", "%q is not absolute: frostd's working directory is not the client's", path)
	}
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, refused(path, fmt.Sprintf("frostd cannot open it for writing: %v", err))
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return -1, refused(path, err.Error())
	}
	why := ""
	var fs syscall.Statfs_t
	if err := syscall.Fstatfs(fd, &fs); err != nil {
		syscall.Close(fd)
		return -1, refused(path, err.Error())
	}
	switch {
	case !dumpFileSystems[int64(fs.Type)]:
		why = fmt.Sprintf("its file system (magic %#x) is not one frostd writes dumps to (pseudo-files in /proc, /sys or a cgroup tree are owned by their user too, and a root write there changes the system)", fs.Type)
	case st.Mode&syscall.S_IFMT != syscall.S_IFREG:
		why = "it is not a regular file"
	case st.Uid != cred.UID:
		why = fmt.Sprintf("it is owned by uid %d, and the caller is uid %d", st.Uid, cred.UID)
	case st.Nlink != 1:
		why = fmt.Sprintf("it has %d links", st.Nlink)
	case st.Size != 0:
		why = fmt.Sprintf("it is not empty (%d bytes): frostd writes only into a file the client just created", st.Size)
	}
	if why != "" {
		syscall.Close(fd)
		return -1, refused(path, why)
	}
	return fd, nil
}

// dumpFileSystems are the file systems (statfs magic numbers) a dump may
// be written to: disk and memory file systems that hold plain files. It is
// an allowlist because a pseudo-file system's files look like empty
// regular files owned by the user (/proc/PID/uid_map, oom_score_adj,
// delegated cgroup files) while a root write to them acts as root; a file
// system not listed makes frostctl stream instead.
var dumpFileSystems = map[int64]bool{
	0xef53:     true, // ext2, ext3, ext4
	0x58465342: true, // xfs
	0x9123683e: true, // btrfs
	0x01021994: true, // tmpfs
	0xf2f52010: true, // f2fs
	0x2fc12fc1: true, // zfs
	0x6969:     true, // nfs
	0x794c7630: true, // overlayfs
	0x4d44:     true, // vfat
	0x5346544e: true, // ntfs
	0x7366746e: true, // ntfs3
	0x65735546: true, // fuse
	0x858458f6: true, // ramfs
}

func refused(path, why string) error {
	return apiError(codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT,
		"frostd will not write the dump into "+path+": "+why+
			" (it writes only into an existing, empty, regular file the caller owns, named by an absolute path that is not a symlink)",
		"field", "path")
}

func fileError(path string, err error) error {
	return apiError(codes.Internal, pb.ErrorReason_ERROR_REASON_UNSPECIFIED, "writing the dump into "+path+": "+err.Error(), "path", path)
}

func pwriteAll(fd int, b []byte, off uint64) error {
	for len(b) > 0 {
		n, err := syscall.Pwrite(fd, b, int64(off))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b, off = b[n:], off+uint64(n)
	}
	return nil
}
