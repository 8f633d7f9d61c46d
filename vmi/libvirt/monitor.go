package libvirt

import (
	"context"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/frostvmi/frost/vmi/qmp"
)

// qmpFlags selects QMP JSON for virDomainQemuMonitorCommand (1 is HMP
// text; QMP's human-monitor-command covers HMP, with typed errors).
const qmpFlags = 0

// QMP is the domain's QMP, through libvirt's monitor passthrough: libvirt
// owns QEMU's QMP socket, so this is the way in. Each command is a libvirt
// round trip (1-7 ms), so keep it off per-read and per-breakpoint paths.
// Events do not come this way: use Conn.Events.
func (d *Domain) QMP() *qmp.Passthrough {
	return qmp.NewPassthrough("libvirt domain "+d.d.Name, func(cmd string) (string, error) {
		// No ctx here: the passthrough bounds its own calls.
		return call(context.Background(), d.c, "QMP passthrough to domain "+d.d.Name, func(l *golibvirt.Libvirt) (string, error) {
			return l.QEMUDomainMonitorCommand(d.d, cmd, qmpFlags)
		})
	})
}
