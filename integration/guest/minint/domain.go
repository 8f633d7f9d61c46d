package minint

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/frostvmi/frost/vmi/qemu"
)

// Domain is mini-NT prepared for libvirt: a private 0700 directory
// (vmi/qemu's run directory) with the C: image, where the serial log and
// gdbstub socket will appear, and the domain XML that boots it. Defining
// and starting it is the caller's (vmi/libvirt's); Remove deletes the
// directory.
type Domain struct {
	qemu.RunDir
	Name   string
	Config Config
}

// NewDomain makes the directory and disk image for a libvirt boot of cfg.
// libvirt places guest RAM itself (memory_backing_dir), so there is no RAM
// file here.
func NewDomain(name string, cfg Config) (*Domain, error) {
	cfg, err := cfg.prepare()
	if err != nil {
		return nil, err
	}
	dir, err := qemu.NewRunDir("frost-domain-", cfg.GDBTCP)
	if err != nil {
		return nil, err
	}
	if err := makeDisk(dir.Dir(), cfg.GuestDir); err != nil {
		dir.Remove()
		return nil, err
	}
	return &Domain{RunDir: dir, Name: name, Config: cfg}, nil
}

// Remove deletes the domain's directory. Undefine the domain first.
func (d *Domain) Remove() error { return d.RunDir.Remove() }

// DiskPath is the C: image.
func (d *Domain) DiskPath() string { return filepath.Join(d.Dir(), diskName) }

// domainTemplate is the libvirt twin of vmi/qemu's command line for
// Config.machine (qemu.Config.Args): same machine, CPU,
// disk, serial and gdbstub. Every value goes through xml, because the
// loader command line carries double quotes and paths may carry '&'.
var domainTemplate = template.Must(template.New("domain").Funcs(template.FuncMap{"xml": xmlEscape}).Parse(
	`<domain type='{{.Type}}' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{{xml .Name}}</name>
  <memory unit='MiB'>{{.MemoryMB}}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{{xml .Loader}}</kernel>
    <initrd>{{xml .Initrd}}</initrd>
    <cmdline>{{xml .Cmdline}}</cmdline>
  </os>
  <!-- Without <cpu>, the guest would see 40 physical-address bits. -->
  <cpu mode='custom' match='exact'>
    <model fallback='forbid'>qemu64</model>
    <maxphysaddr mode='emulate' bits='46'/>
{{- if .NoPNI}}
    <feature policy='disable' name='pni'/>
{{- end}}
  </cpu>
  <!-- Guest RAM in a shared file under memory_backing_dir, readable by a mapper. -->
  <memoryBacking>
    <source type='file'/>
    <access mode='shared'/>
  </memoryBacking>
  <!-- libvirt's DAC labelling stats <initrd> as one path, but it holds two
       modules joined by a comma; QEMU runs as root anyway (qemu.conf). -->
  <seclabel type='none' model='dac'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{{xml .Disk}}'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <serial type='file'>
      <source path='{{xml .Serial}}'/>
      <target port='0'/>
    </serial>
{{- if .Network}}
    <!-- e1000 on QEMU's user-mode network; libvirt names its netdev
         hostnet0. No option ROM: the loader boots from -kernel. -->
    <interface type='user'>
      <model type='e1000'/>
      <rom enabled='no'/>
    </interface>
{{- end}}
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-gdb'/>
    <qemu:arg value='{{xml .GDB}}'/>
{{- if .FilterDump}}
    <qemu:arg value='-object'/>
    <qemu:arg value='filter-dump,id=frostdump0,netdev={{.Netdev}},file={{xml .FilterDump}}'/>
{{- end}}
  </qemu:commandline>
</domain>
`))

func xmlEscape(s string) (string, error) {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return "", err
	}
	return b.String(), nil
}

// libvirtNetdev is the id libvirt gives the netdev of the domain's first
// <interface> ("host" + its alias net0); filter-dump names it.
const libvirtNetdev = "hostnet0"

// XML renders the domain definition.
func (d *Domain) XML() (string, error) {
	cmdline, err := d.Config.LoaderCmdline()
	if err != nil {
		return "", err
	}
	loader, kernel, hal := d.Config.loaderFiles()
	typ := "qemu" // TCG
	if d.Config.Accel == qemu.AccelKVM {
		typ = "kvm"
	}
	var b bytes.Buffer
	err = domainTemplate.Execute(&b, map[string]any{
		"Type":     typ,
		"Name":     d.Name,
		"MemoryMB": d.Config.MemoryMB,
		"Loader":   loader,
		"Initrd":   kernel + "," + hal,
		"Cmdline":  cmdline,
		"NoPNI":    d.Config.Accel == qemu.AccelKVM,
		"Disk":     d.DiskPath(),
		"Serial":   d.SerialPath(),
		"GDB":      d.GDBArg(),
		"Network":  d.Config.Network,
		// checkFilterDump keeps commas out of the path.
		"FilterDump": d.Config.FilterDump,
		"Netdev":     libvirtNetdev,
	})
	if err != nil {
		return "", fmt.Errorf("minint: domain XML: %w", err)
	}
	return b.String(), nil
}
