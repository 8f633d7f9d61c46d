package api

import (
	"errors"
	"io"
	"strconv"

	"google.golang.org/grpc/codes"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/isf"
	"github.com/frostvmi/frost/symbols/pdb"
	"github.com/frostvmi/frost/symbols/store"
)

// maxPDBUpload bounds an uploaded PDB: the largest Windows kernel PDBs are
// tens of MiB, so this is generous and still keeps a client from filling
// the disk.
const maxPDBUpload = 1 << 30

// ConvertPdb spools the upload (the PDB reader wants random access) in
// frostd's own spool, within its cap on bytes spooled at once, and
// streams the ISF back as it is written. No error names the spool file.
func (s *symbolService) ConvertPdb(stream pb.SymbolService_ConvertPdbServer) error {
	sp, err := s.c.sessions.Spool()
	if err != nil {
		return apiError(codes.Unavailable, pb.ErrorReason_ERROR_REASON_UNSPECIFIED, "ConvertPdb: "+err.Error())
	}
	tmp, err := sp.Create()
	if err != nil {
		s.c.Log.Error("spooling a PDB upload", "error", err)
		return apiError(codes.Internal, pb.ErrorReason_ERROR_REASON_UNSPECIFIED, "spooling the PDB: "+err.Error())
	}
	defer tmp.Close()

	name, size := "", int64(0)
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if name == "" {
			name = req.GetPdbName()
			if name == "" {
				name = "unknown.pdb"
			}
		}
		size += int64(len(req.GetChunk()))
		if size > maxPDBUpload {
			return apiError(codes.ResourceExhausted, pb.ErrorReason_ERROR_REASON_LIMIT_EXCEEDED,
				"the PDB exceeds "+strconv.Itoa(maxPDBUpload)+" bytes", "limit", strconv.Itoa(maxPDBUpload))
		}
		if _, err := tmp.Write(req.GetChunk()); err != nil {
			if errors.Is(err, session.ErrSpoolFull) {
				return apiError(codes.ResourceExhausted, pb.ErrorReason_ERROR_REASON_LIMIT_EXCEEDED, "ConvertPdb: "+err.Error())
			}
			return apiError(codes.Internal, pb.ErrorReason_ERROR_REASON_UNSPECIFIED, "spooling the PDB: "+err.Error())
		}
	}
	if size == 0 {
		return invalid("chunk", "no PDB bytes were sent")
	}
	if err := store.CheckName(name); err != nil {
		return invalid("pdb_name", "%v", err)
	}
	// Read from the open file, not by its name: the reader's errors then
	// never carry the spool's path.
	res, err := pdb.Read(tmp.File(), tmp.Size(), name)
	var tab *symbols.Table
	if err == nil {
		tab, err = symbols.New(res.Data)
	}
	if err != nil {
		return apiError(codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT,
			"not a PDB Frost can read: "+err.Error(), "field", "chunk")
	}
	d := tab.Data()
	d.ID.PDBName = name
	if err := stream.Send(&pb.ConvertPdbResponse{Pdb: identityPB(d.ID), FileName: store.ISFPath(d.ID, ".json.xz")}); err != nil {
		return err
	}
	w := &chunkSender{send: func(b []byte) error { return stream.Send(&pb.ConvertPdbResponse{Chunk: b}) }}
	if err := isf.WriteXZ(w, d); err != nil {
		return apiError(codes.Internal, pb.ErrorReason_ERROR_REASON_UNSPECIFIED, "writing the ISF: "+err.Error())
	}
	return w.flush()
}

// chunkSender turns a writer's many small writes into messages of about
// chunk bytes.
type chunkSender struct {
	send func([]byte) error
	buf  []byte
}

const chunk = 1 << 20

func (c *chunkSender) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(chunk-len(c.buf), len(p))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == chunk {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkSender) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := c.send(c.buf)
	c.buf = c.buf[:0]
	return err
}
