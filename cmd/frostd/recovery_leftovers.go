package main

import (
	"context"
	"strings"
	"time"

	"github.com/frostvmi/frost/vmi/libvirt"
)

// frostGDBMark is in the path of every gdbstub socket Frost starts
// (libvirt's Attach makes a frost-gdb-* directory for it): a running
// domain whose gdbstub chardev names one was attached by a Frost, and a
// frostd that died may have left it with breakpoints in.
const frostGDBMark = "frost-gdb-"

// leftoverQueryTimeout bounds each domain's monitor query.
const leftoverQueryTimeout = 3 * time.Second

// chardev is one entry of QMP query-chardev.
type chardev struct {
	Label    string `json:"label"`
	Filename string `json:"filename"`
}

// frostLeftovers lists the running domains with a gdbstub Frost started:
// what a corrupt state file may have recorded. A domain whose monitor does
// not answer is skipped (its own recovery would hang the same way).
func frostLeftovers(conn func(context.Context) (*libvirt.Conn, error)) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		c, err := conn(ctx)
		if err != nil {
			return nil, err
		}
		ds, err := c.Domains(ctx)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, info := range ds {
			if info.State != libvirt.StateRunning && info.State != libvirt.StatePaused {
				continue
			}
			d, err := c.Lookup(ctx, info.Name)
			if err != nil {
				continue
			}
			var devs []chardev
			dctx, cancel := context.WithTimeout(ctx, leftoverQueryTimeout)
			err = d.QMP().Execute(dctx, "query-chardev", nil, &devs)
			cancel()
			if err != nil {
				continue
			}
			for _, dev := range devs {
				if strings.Contains(dev.Filename, frostGDBMark) {
					out = append(out, info.Name)
					break
				}
			}
		}
		return out, nil
	}
}
