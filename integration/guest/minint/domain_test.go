package minint

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostvmi/frost/integration/guest/disk"
	"github.com/frostvmi/frost/vmi/qemu"
)

// fakeGuestDir holds stand-ins for every file a boot needs.
func fakeGuestDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range append([]string{"winload.elf", "ntoskrnl.exe", "hal.dll"}, disk.StandardExecutables...) {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("MZ"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// domainDoc is the part of the domain XML the test checks.
type domainDoc struct {
	Type string `xml:"type,attr"`
	Name string `xml:"name"`
	OS   struct {
		Type struct {
			Arch    string `xml:"arch,attr"`
			Machine string `xml:"machine,attr"`
		} `xml:"type"`
		Kernel  string `xml:"kernel"`
		Initrd  string `xml:"initrd"`
		Cmdline string `xml:"cmdline"`
	} `xml:"os"`
	CPU struct {
		Mode        string `xml:"mode,attr"`
		Model       string `xml:"model"`
		MaxPhysAddr struct {
			Mode string `xml:"mode,attr"`
			Bits string `xml:"bits,attr"`
		} `xml:"maxphysaddr"`
		Features []struct {
			Policy string `xml:"policy,attr"`
			Name   string `xml:"name,attr"`
		} `xml:"feature"`
	} `xml:"cpu"`
	MemoryBacking struct {
		Source struct {
			Type string `xml:"type,attr"`
		} `xml:"source"`
		Access struct {
			Mode string `xml:"mode,attr"`
		} `xml:"access"`
	} `xml:"memoryBacking"`
	Disk struct {
		Source struct {
			File string `xml:"file,attr"`
		} `xml:"source"`
		Target struct {
			Dev string `xml:"dev,attr"`
			Bus string `xml:"bus,attr"`
		} `xml:"target"`
	} `xml:"devices>disk"`
	Serial struct {
		Type   string `xml:"type,attr"`
		Source struct {
			Path string `xml:"path,attr"`
		} `xml:"source"`
	} `xml:"devices>serial"`
	QEMUArgs []struct {
		Value string `xml:"value,attr"`
	} `xml:"http://libvirt.org/schemas/domain/qemu/1.0 commandline>arg"`
}

func TestDomainXML(t *testing.T) {
	guest := fakeGuestDir(t)
	d, err := NewDomain("frost-test", Config{GuestDir: guest, Seed: Seed(3), LoadOptions: "MININT INRAM", PagingFiles: []string{`C:\pagefile.sys`}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	if st, err := os.Stat(d.Dir()); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("domain dir mode = %v, %v; want 0700", st.Mode(), err)
	}
	if _, err := os.Stat(d.DiskPath()); err != nil {
		t.Errorf("no C: image: %v", err)
	}
	text, err := d.XML()
	if err != nil {
		t.Fatal(err)
	}
	var doc domainDoc
	if err := xml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("domain XML does not parse: %v\n%s", err, text)
	}
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("type", doc.Type, "qemu")
	check("name", doc.Name, "frost-test")
	check("machine", doc.OS.Type.Machine, "pc")
	check("arch", doc.OS.Type.Arch, "x86_64")
	check("kernel", doc.OS.Kernel, filepath.Join(guest, "winload.elf"))
	check("initrd", doc.OS.Initrd, filepath.Join(guest, "ntoskrnl.exe")+","+filepath.Join(guest, "hal.dll"))
	check("cmdline", doc.OS.Cmdline, `seed=3 pagingfiles=C:\pagefile.sys loadoptions="MININT INRAM"`)
	check("cpu mode", doc.CPU.Mode, "custom")
	check("cpu model", doc.CPU.Model, "qemu64")
	check("maxphysaddr", doc.CPU.MaxPhysAddr.Mode+"/"+doc.CPU.MaxPhysAddr.Bits, "emulate/46")
	check("memory backing", doc.MemoryBacking.Source.Type+"/"+doc.MemoryBacking.Access.Mode, "file/shared")
	check("disk", doc.Disk.Source.File, d.DiskPath())
	check("disk target", doc.Disk.Target.Dev+"/"+doc.Disk.Target.Bus, "hda/ide")
	check("serial", doc.Serial.Type+":"+doc.Serial.Source.Path, "file:"+d.SerialPath())
	if len(doc.QEMUArgs) != 2 {
		t.Fatalf("qemu:commandline args = %+v", doc.QEMUArgs)
	}
	_, sock := d.GDBAddr()
	check("gdb", doc.QEMUArgs[0].Value+" "+doc.QEMUArgs[1].Value, "-gdb unix:"+sock+",server=on,wait=off")
	if len(doc.CPU.Features) != 0 {
		t.Errorf("TCG domain disables CPU features: %+v", doc.CPU.Features)
	}
}

func TestDomainXMLKVMAndTCPGDB(t *testing.T) {
	d, err := NewDomain("frost-kvm", Config{GuestDir: fakeGuestDir(t), Accel: qemu.AccelKVM, GDBTCP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	text, err := d.XML()
	if err != nil {
		t.Fatal(err)
	}
	var doc domainDoc
	if err := xml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Type != "kvm" || len(doc.CPU.Features) != 1 || doc.CPU.Features[0].Name != "pni" || doc.CPU.Features[0].Policy != "disable" {
		t.Errorf("KVM domain: type %q, features %+v; want kvm with pni disabled", doc.Type, doc.CPU.Features)
	}
	network, addr := d.GDBAddr()
	if network != "tcp" || !strings.HasPrefix(addr, "127.0.0.1:") || doc.QEMUArgs[1].Value != "tcp:"+addr {
		t.Errorf("gdb %s %s, arg %q", network, addr, doc.QEMUArgs[1].Value)
	}
}

func TestDomainEscapesNames(t *testing.T) {
	d, err := NewDomain("a<b&c", Config{GuestDir: fakeGuestDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	text, _ := d.XML()
	var doc domainDoc
	if err := xml.Unmarshal([]byte(text), &doc); err != nil || doc.Name != "a<b&c" {
		t.Errorf("name round-trips as %q, %v", doc.Name, err)
	}
}

func TestNewDomainCleansUpOnError(t *testing.T) {
	guest := fakeGuestDir(t)
	os.Remove(filepath.Join(guest, disk.StandardExecutables[0])) // the disk image needs it
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "frost-domain-*"))
	if _, err := NewDomain("x", Config{GuestDir: guest}); err == nil {
		t.Fatal("NewDomain succeeded without a standard executable")
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "frost-domain-*"))
	if len(after) > len(before) {
		t.Errorf("NewDomain left a directory behind: %v", after)
	}
}
