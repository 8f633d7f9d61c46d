package api

import (
	"context"
	"testing"

	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
)

// fakeBase is what the api tests' fake targets embed: a session starts a
// breakpoint manager, which asks every target for its name, capabilities,
// run state and events, so fakeBase answers those (a quiet, running
// guest) for a fake that implements only what the call under test uses.
// Anything else goes to the nil vmi.Target and panics: a test that
// reaches it is wrong.
type fakeBase struct{ vmi.Target }

func (fakeBase) Name() string                     { return "fake" }
func (fakeBase) Capabilities() vmi.Capabilities   { return vmi.Capabilities{} }
func (fakeBase) Events() <-chan vmi.Event         { return nil }
func (fakeBase) Running() (bool, *vmi.Stop)       { return true, nil }
func (fakeBase) Close(ctx context.Context) error  { return nil }
func (fakeBase) Resume(ctx context.Context) error { return nil }

// testConfig fills c as Register does.
func testConfig(c *Config) *Config {
	c.init()
	return c
}

// addVM attaches tg to c's registry as a session named name.
func addVM(tb testing.TB, c *Config, name string, tg vmi.Target) *session.Session {
	tb.Helper()
	s, err := session.New(c.sessions, name, "", tg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Registry.Add(s); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Manager().Close(context.Background()) })
	return s
}
