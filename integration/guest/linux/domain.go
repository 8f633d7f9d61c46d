package linuxguest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/frostvmi/frost/vmi/qemu"
)

// MemoryMB is the guest's RAM: Debian's kernel and a busybox initramfs
// run in far less, and a small RAM file keeps dumps and their comparison
// quick.
const MemoryMB = 256

// Domain is the Linux guest prepared for libvirt: a private 0700
// directory (vmi/qemu's run directory) holding its initramfs, where the
// serial log will appear, and the domain XML that boots the cached kernel
// with it. Defining and starting it is the caller's (vmi/libvirt's);
// Remove deletes the directory.
//
// The XML has no gdbstub: frostd starts one itself when it attaches
// (vmi/libvirt's Domain.Attach, over HMP gdbserver), as it does for any
// user's domain.
type Domain struct {
	qemu.RunDir
	Name   string
	Files  *Files
	Config Config
}

// NewDomain makes the run directory and writes the initramfs for c.
func NewDomain(name string, f *Files, c Config) (*Domain, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return nil, fmt.Errorf("linuxguest: bad domain name %q", name)
	}
	dir, err := qemu.NewRunDir("frost-linux-", false)
	if err != nil {
		return nil, err
	}
	d := &Domain{RunDir: dir, Name: name, Files: f, Config: c}
	if err := WriteInitramfsFile(d.InitrdPath(), f, c); err != nil {
		dir.Remove()
		return nil, err
	}
	return d, nil
}

// Remove deletes the domain's directory. Undefine the domain first.
func (d *Domain) Remove() error { return d.RunDir.Remove() }

// InitrdPath is the initramfs this domain boots.
func (d *Domain) InitrdPath() string { return filepath.Join(d.Dir(), "initramfs.cpio.gz") }

// Report parses the serial log so far (complete lines only).
func (d *Domain) Report() (*Report, error) { return ReadReport(d.SerialPath()) }

// domainTemplate: TCG (type 'qemu'; KVM on this project's machines is an
// emulator, platform-facts.md), one qemu64 vCPU, direct kernel boot, RAM
// in a shared file under libvirt's memory_backing_dir (so a dump can be
// compared with the RAM itself), COM1 into the run directory. Every
// value goes through xml: paths may carry '&'.
var domainTemplate = template.Must(template.New("domain").Funcs(template.FuncMap{"xml": xmlEscape}).Parse(
	`<domain type='qemu'>
  <name>{{xml .Name}}</name>
  <memory unit='MiB'>{{.MemoryMB}}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{{xml .Kernel}}</kernel>
    <initrd>{{xml .Initrd}}</initrd>
    <cmdline>{{xml .Cmdline}}</cmdline>
  </os>
  <!-- Without <cpu>, the guest would see 40 physical-address bits. -->
  <cpu mode='custom' match='exact'>
    <model fallback='forbid'>qemu64</model>
    <maxphysaddr mode='emulate' bits='46'/>
  </cpu>
  <memoryBacking>
    <source type='file'/>
    <access mode='shared'/>
  </memoryBacking>
  <!-- The kernel is read in place from the package cache: no relabelling
       (QEMU runs as root, qemu.conf). -->
  <seclabel type='none' model='dac'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <!-- append='off': each start of the domain begins the log afresh, so
         the report of the boot that runs starts at writer line 1. -->
    <serial type='file'>
      <source path='{{xml .Serial}}' append='off'/>
      <target port='0'/>
    </serial>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
`))

func xmlEscape(s string) (string, error) {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return "", err
	}
	return b.String(), nil
}

// XML renders the domain definition.
func (d *Domain) XML() (string, error) {
	if d.Files == nil || d.Files.Kernel == "" {
		return "", fmt.Errorf("linuxguest: domain %s has no kernel", d.Name)
	}
	var b bytes.Buffer
	err := domainTemplate.Execute(&b, map[string]any{
		"Name":     d.Name,
		"MemoryMB": MemoryMB,
		"Kernel":   d.Files.Kernel,
		"Initrd":   d.InitrdPath(),
		"Cmdline":  d.Config.Cmdline,
		"Serial":   d.SerialPath(),
	})
	if err != nil {
		return "", fmt.Errorf("linuxguest: domain XML: %w", err)
	}
	return b.String(), nil
}
