package api

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// listedDomains is a Hypervisor with a fixed domain list, or an error.
type listedDomains struct {
	ds  []libvirt.DomainInfo
	err error
}

func (l listedDomains) Domains(context.Context) ([]libvirt.DomainInfo, error) { return l.ds, l.err }

func reasonOf(err error) pb.ErrorReason {
	for _, d := range status.Convert(err).Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok {
			return ed.GetReason()
		}
	}
	return pb.ErrorReason_ERROR_REASON_UNSPECIFIED
}

// A mistyped VM name is NotFound and lists the domains libvirt knows; a
// known domain that is not attached keeps "attach it first" (issue 12,
// item 12: a typo was told to attach it first).
func TestRegistryGetTellsATypoFromADomainNotAttached(t *testing.T) {
	r := testConfig(&Config{Hypervisor: listedDomains{ds: []libvirt.DomainInfo{
		{Name: "win10", UUID: "6F0B0BB6-1A2E-4C3F-9D1E-2A9F5D1C0E11"},
		{Name: "mini-nt", UUID: "0c7d4b9e-5f60-4a8b-b1c2-d3e4f5a6b7c8"},
		{Name: "analysis", UUID: "9a1c3e5f-7b2d-4f60-8e1a-3c5e7f9b1d2f"},
	}}})
	addVM(t, r, "win10", fakeBase{})

	_, err := r.get("win01")
	st := status.Convert(err)
	if st.Code() != codes.NotFound || reasonOf(err) != pb.ErrorReason_ERROR_REASON_VM_NOT_FOUND {
		t.Errorf("typo: %v, want NotFound VM_NOT_FOUND", err)
	}
	for _, want := range []string{`no domain named "win01"`, "analysis, mini-nt, win10"} {
		if !strings.Contains(st.Message(), want) {
			t.Errorf("typo: %q lacks %q", st.Message(), want)
		}
	}
	if strings.Contains(st.Message(), "attach it first") {
		t.Errorf("typo: %q still says to attach it", st.Message())
	}

	_, err = r.get("mini-nt")
	st = status.Convert(err)
	if st.Code() != codes.FailedPrecondition || reasonOf(err) != pb.ErrorReason_ERROR_REASON_VM_NOT_ATTACHED ||
		st.Message() != "VM mini-nt is not attached: attach it first" {
		t.Errorf("known, not attached: %v", err)
	}

	// A UUID names the domain as Attach's does, in any case.
	if vm, err := r.get("6f0b0bb6-1a2e-4c3f-9d1e-2a9f5d1c0e11"); err != nil || vm.Name != "win10" {
		t.Errorf("attached VM by UUID: %v, %v", vm, err)
	}
	if _, err := r.get("0C7D4B9E-5F60-4A8B-B1C2-D3E4F5A6B7C8"); !strings.Contains(status.Convert(err).Message(), "VM mini-nt is not attached") {
		t.Errorf("known domain by UUID: %v", err)
	}
}

// Without libvirt, or when it cannot list, a name is not judged a typo.
func TestRegistryGetWithoutDomainList(t *testing.T) {
	r := testConfig(&Config{})
	_, err := r.get("nope")
	if status.Code(err) != codes.FailedPrecondition || reasonOf(err) != pb.ErrorReason_ERROR_REASON_VM_NOT_ATTACHED {
		t.Errorf("no libvirt: %v", err)
	}
	r = testConfig(&Config{Hypervisor: listedDomains{err: errors.New("libvirtd went away")}})
	_, err = r.get("nope")
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "libvirtd went away") {
		t.Errorf("listing failed: %v", err)
	}
	r = testConfig(&Config{Hypervisor: listedDomains{}})
	_, err = r.get("nope")
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "libvirt has no domains") {
		t.Errorf("no domains: %v", err)
	}
}
