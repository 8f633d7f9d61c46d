package api

import (
	"context"
	"runtime/debug"
	"testing"
)

// GetVersion reports the build: a version linked in wins, a work-tree
// build is "devel" with its revision, and the API version is always said.
func TestGetVersion(t *testing.T) {
	info := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}}}, true
	}
	got := buildVersion("", info)
	if got.GetVersion() != "devel" || got.GetRevision() != "0123456789abcdef" || !got.GetModified() || got.GetGoVersion() != "go1.99" || got.GetApiVersion() != "frost.v1" {
		t.Errorf("work-tree build: %v", got)
	}
	if got := buildVersion("v1.2.3", info); got.GetVersion() != "v1.2.3" {
		t.Errorf("linked version: %v", got)
	}
	if got := buildVersion("", func() (*debug.BuildInfo, bool) { return nil, false }); got.GetVersion() != "devel" || got.GetApiVersion() != "frost.v1" {
		t.Errorf("no build info: %v", got)
	}
	resp, err := NewVersionServer().GetVersion(context.Background(), nil)
	if err != nil || resp.GetApiVersion() != APIVersion || resp.GetGoVersion() == "" {
		t.Errorf("this binary: %v, %v", resp, err)
	}
}
