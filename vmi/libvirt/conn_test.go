package libvirt

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A Conn opened while libvirtd is away starts down: every call fails at
// once with ErrUnavailable (not a dead socket's error), Watch reports it
// down, and Close stops the redialling.
func TestOpenWhileLibvirtdIsAway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sock := filepath.Join(t.TempDir(), "libvirt-sock") // nobody listens
	c, err := Open(ctx, sock)
	if err == nil || c == nil {
		t.Fatalf("Open of a missing socket: %v, %v", c, err)
	}
	defer c.Close()
	if c.Up() {
		t.Fatal("up with nothing to connect to")
	}
	var watched []bool
	c.Watch(func(up bool, err error) { watched = append(watched, up) })
	if len(watched) != 1 || watched[0] {
		t.Errorf("Watch's first report: %v", watched)
	}
	_, err = c.Domains(ctx)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "libvirtd unavailable, reconnecting") {
		t.Errorf("Domains while away: %v, want ErrUnavailable", err)
	}
	if _, err := c.Lookup(ctx, "x"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Lookup while away: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close while away: %v", err)
	}
	if _, err := c.Domains(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Domains after Close: %v", err)
	}
}
