package api

import (
	"context"
	"runtime/debug"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// APIVersion is the API's proto package: what a client built against
// frost.v1 can talk to.
const APIVersion = "frost.v1"

// Version is frostd's version; a release build sets it with
// -ldflags "-X github.com/frostvmi/frost/api.Version=v1.2.3". Otherwise the
// build's own record (module version, VCS revision) says what it is.
var Version = ""

// versionService answers GetVersion from the running binary's build info.
type versionService struct {
	pb.UnimplementedVersionServiceServer
	info *pb.GetVersionResponse
}

// NewVersionServer is the VersionService of this binary.
func NewVersionServer() pb.VersionServiceServer {
	return &versionService{info: buildVersion(Version, debug.ReadBuildInfo)}
}

func (s *versionService) GetVersion(context.Context, *pb.GetVersionRequest) (*pb.GetVersionResponse, error) {
	return s.info, nil
}

// buildVersion reads what a build recorded of itself: a version set at
// link time wins over the module's, which is "(devel)" for a build from a
// work tree ("devel" then, with the revision to say which).
func buildVersion(linked string, read func() (*debug.BuildInfo, bool)) *pb.GetVersionResponse {
	out := &pb.GetVersionResponse{Version: linked, ApiVersion: APIVersion}
	if bi, ok := read(); ok {
		out.GoVersion = bi.GoVersion
		if out.Version == "" {
			out.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				out.Revision = s.Value
			case "vcs.modified":
				out.Modified = s.Value == "true"
			}
		}
	}
	if out.Version == "" || out.Version == "(devel)" {
		out.Version = "devel"
	}
	return out
}
