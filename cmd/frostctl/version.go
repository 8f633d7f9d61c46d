package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// version is frostctl's own version; a release build sets it with
// -ldflags "-X main.version=v1.2.3". Otherwise the build's own record
// (module version, VCS revision) says what it is.
var version = ""

// apiVersion is the API package frostctl was built against.
const apiVersion = "frost.v1"

// versionTimeout bounds asking frostd: --version must answer promptly
// even when frostd hangs.
const versionTimeout = 3 * time.Second

// clientVersion is frostctl's version line: version, revision, toolchain.
func clientVersion() string {
	v, rev, go_ := version, "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		go_ = bi.GoVersion
		if v == "" {
			v = bi.Main.Version
		}
		rev = buildRevision(bi)
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	return versionLine(v, rev, go_)
}

// buildRevision is the VCS revision a build recorded, "+dirty" when the
// tree had changes.
func buildRevision(bi *debug.BuildInfo) string {
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && dirty {
		rev += "+dirty"
	}
	return rev
}

func versionLine(v, rev, goVersion string) string {
	s := v
	if rev != "" {
		s += " (" + rev + ")"
	}
	if goVersion != "" {
		s += " " + goVersion
	}
	return s
}

// printVersion prints frostctl's version, then frostd's and its API's, or
// why frostd's is not known. It fails only when output fails: a frostd
// that is down is what --version is asked to find out, not an error.
func (c *cli) printVersion(ctx context.Context) error {
	resp, err := c.serverVersion(ctx)
	if c.json {
		return c.emitVersion(resp, err)
	}
	fmt.Fprintf(c.out, "frostctl %s, API %s\n", clientVersion(), apiVersion)
	if err != nil {
		fmt.Fprintf(c.out, "frostd: unreachable (%s)\n", describeError(err))
		return nil
	}
	fmt.Fprintf(c.out, "frostd %s, API %s\n", versionLine(resp.GetVersion(), revWithDirty(resp), resp.GetGoVersion()), resp.GetApiVersion())
	return nil
}

func revWithDirty(r *pb.GetVersionResponse) string {
	if r.GetModified() && r.GetRevision() != "" {
		return r.GetRevision() + "+dirty"
	}
	return r.GetRevision()
}

// emitVersion is --version --json: one object with the client's version,
// the server's GetVersion reply (null when unreachable) and why not.
func (c *cli) emitVersion(resp *pb.GetVersionResponse, err error) error {
	out := struct {
		Client      map[string]string `json:"client"`
		Server      json.RawMessage   `json:"server"`
		ServerError string            `json:"server_error"`
	}{Client: map[string]string{"version": clientVersion(), "api_version": apiVersion}, Server: json.RawMessage("null")}
	if err != nil {
		out.ServerError = describeError(err)
	} else {
		b, merr := jsonOf(resp)
		if merr != nil {
			return merr
		}
		out.Server = b
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.out, string(b))
	return err
}

func (c *cli) serverVersion(ctx context.Context) (*pb.GetVersionResponse, error) {
	cc, err := c.client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	return pb.NewVersionServiceClient(cc).GetVersion(ctx, &pb.GetVersionRequest{})
}
