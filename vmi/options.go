package vmi

import "time"

// Options tune how a Target is opened. The zero value is what the daemon
// uses by default.
type Options struct {
	// AllowVisibleBreakpoints is the operator's consent to software
	// breakpoints under KVM, where QEMU writes 0xCC into guest memory and
	// the guest can see it. It changes nothing under TCG, and nothing on
	// kvm_pvm hosts, where such a breakpoint kills the guest.
	AllowVisibleBreakpoints bool
	// ReplyTimeout bounds each gdbstub reply (see gdbstub.Config); 0 keeps
	// the client's default.
	ReplyTimeout time.Duration

	// SocketDir is where an attached libvirt domain's gdbstub gets its
	// private 0700 directory; "" is os.TempDir().
	SocketDir string
	// GDBTCP puts an attached libvirt domain's gdbstub on a loopback TCP
	// port instead of a unix socket. Every local user can connect to it:
	// only for clients that cannot use a unix socket.
	GDBTCP bool

	// CPUInfo is the host's CPU flags file, which tells KVM from KVM
	// without vmx/svm (kvm_pvm); "" is /proc/cpuinfo.
	CPUInfo string
}

// hostCPUInfo is where the host's CPU flags are.
const hostCPUInfo = "/proc/cpuinfo"

func (o Options) cpuInfo() string {
	if o.CPUInfo == "" {
		return hostCPUInfo
	}
	return o.CPUInfo
}
