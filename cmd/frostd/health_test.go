package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// The VM services serve only when the crash record works and libvirtd is
// up: either one coming back while the other is still down keeps them
// NOT_SERVING. (Each used to set the status alone, so a record that
// recovered while libvirtd was away said SERVING.)
func TestVMHealthNeedsBoth(t *testing.T) {
	hs := health.NewServer()
	vh := newVMHealth(hs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	status := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		name := vmServices()[0]
		resp, err := hs.Check(context.Background(), &healthpb.HealthCheckRequest{Service: name})
		if err != nil {
			t.Fatalf("health of %s: %v", name, err)
		}
		return resp.GetStatus()
	}
	for _, name := range vmServices() {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	const serving, notServing = healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	steps := []struct {
		what string
		do   func()
		want healthpb.HealthCheckResponse_ServingStatus
	}{
		{"libvirtd goes away", func() { vh.setLibvirt(false) }, notServing},
		{"the record breaks too", func() { vh.setRecord(errors.New("read-only file system")) }, notServing},
		{"the record works again, libvirtd still away", func() { vh.setRecord(nil) }, notServing},
		{"libvirtd is back", func() { vh.setLibvirt(true) }, serving},
		{"the record breaks", func() { vh.setRecord(errors.New("disk full")) }, notServing},
		{"libvirtd reconnects meanwhile", func() { vh.setLibvirt(true) }, notServing},
		{"the record works again", func() { vh.setRecord(nil) }, serving},
	}
	for _, s := range steps {
		s.do()
		if got := status(); got != s.want {
			t.Fatalf("after %s: %v, want %v", s.what, got, s.want)
		}
	}
	// The symbol and version services never depend on either.
	for _, name := range vmServices() {
		if name == "frost.v1.SymbolService" || name == "frost.v1.VersionService" {
			t.Errorf("%s is counted as a VM service", name)
		}
	}
}
