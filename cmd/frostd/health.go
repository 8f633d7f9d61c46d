package main

import (
	"log/slog"
	"sync"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// vmHealth is the one writer of the VM services' health status. Two
// things stop frostd from holding guests: a crash record it cannot write,
// and libvirtd being away. The services serve only when neither holds, so
// one recovering never reports SERVING while the other still stands.
type vmHealth struct {
	hs  *health.Server
	log *slog.Logger

	mu          sync.Mutex
	record      error // the crash record's last write failure, nil when it works
	libvirtDown bool
	serving     bool
}

func newVMHealth(hs *health.Server, log *slog.Logger) *vmHealth {
	return &vmHealth{hs: hs, log: log, serving: true}
}

// setRecord says whether the crash record can be written (err nil) or not.
func (h *vmHealth) setRecord(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err != nil && h.record == nil:
		h.log.Error("the crash record cannot be written: frostd refuses to attach or boot until it can", "error", err)
	case err == nil && h.record != nil:
		h.log.Info("the crash record works again")
	}
	h.record = err
	h.apply()
}

// setLibvirt says whether libvirtd is connected.
func (h *vmHealth) setLibvirt(up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.libvirtDown = !up
	h.apply()
}

// apply sets the services' status from both causes, logging a change.
func (h *vmHealth) apply() {
	serving := h.record == nil && !h.libvirtDown
	if serving == h.serving {
		return
	}
	h.serving = serving
	st := healthpb.HealthCheckResponse_SERVING
	if !serving {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	h.log.Info("VM services health", "status", st.String(), "crash_record_ok", h.record == nil, "libvirtd_up", !h.libvirtDown)
	for _, name := range vmServices() {
		h.hs.SetServingStatus(name, st)
	}
}
