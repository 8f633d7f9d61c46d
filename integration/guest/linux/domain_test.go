package linuxguest

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type domainDoc struct {
	XMLName xml.Name
	Type    string `xml:"type,attr"`
	Name    string `xml:"name"`
	Memory  struct {
		Unit  string `xml:"unit,attr"`
		Value string `xml:",chardata"`
	} `xml:"memory"`
	VCPU string `xml:"vcpu"`
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
		Model       string `xml:"model"`
		MaxPhysAddr struct {
			Bits string `xml:"bits,attr"`
		} `xml:"maxphysaddr"`
	} `xml:"cpu"`
	MemoryBacking struct {
		Source struct {
			Type string `xml:"type,attr"`
		} `xml:"source"`
		Access struct {
			Mode string `xml:"mode,attr"`
		} `xml:"access"`
	} `xml:"memoryBacking"`
	OnReboot string `xml:"on_reboot"`
	Serial   struct {
		Type   string `xml:"type,attr"`
		Source struct {
			Path   string `xml:"path,attr"`
			Append string `xml:"append,attr"`
		} `xml:"source"`
	} `xml:"devices>serial"`
}

// fakeFiles are fetched files with a stand-in busybox and a kernel path
// that needs escaping.
func fakeFiles(t *testing.T) *Files {
	t.Helper()
	dir := t.TempDir()
	bb := filepath.Join(dir, "busybox")
	if err := os.WriteFile(bb, fakeBusybox, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Files{Kernel: filepath.Join(dir, "R&D <vmlinuz>"), Busybox: bb}
}

func TestDomainXML(t *testing.T) {
	d, err := NewDomain("frost-test-linux-1", fakeFiles(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	if st, err := os.Stat(d.Dir()); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("run directory: %v, %v; want mode 0700", st, err)
	}
	if st, err := os.Stat(d.InitrdPath()); err != nil || st.Size() == 0 {
		t.Errorf("initramfs: %v, %v", st, err)
	}
	text, err := d.XML()
	if err != nil {
		t.Fatal(err)
	}
	var doc domainDoc
	if err := xml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	checks := []struct{ what, got, want string }{
		{"root", doc.XMLName.Local, "domain"},
		{"type (TCG)", doc.Type, "qemu"},
		{"name", doc.Name, "frost-test-linux-1"},
		{"memory", doc.Memory.Value + " " + doc.Memory.Unit, "256 MiB"},
		{"vcpu", doc.VCPU, "1"},
		{"arch", doc.OS.Type.Arch + "/" + doc.OS.Type.Machine, "x86_64/pc"},
		{"kernel", doc.OS.Kernel, d.Files.Kernel},
		{"initrd", doc.OS.Initrd, d.InitrdPath()},
		{"cmdline", doc.OS.Cmdline, DefaultCmdline},
		{"cpu", doc.CPU.Model + "/" + doc.CPU.MaxPhysAddr.Bits, "qemu64/46"},
		{"memory backing", doc.MemoryBacking.Source.Type + "/" + doc.MemoryBacking.Access.Mode, "file/shared"},
		{"on_reboot", doc.OnReboot, "destroy"},
		{"serial", doc.Serial.Type + " " + doc.Serial.Source.Path + " append=" + doc.Serial.Source.Append, "file " + d.SerialPath() + " append=off"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	// frostd starts the gdbstub on attach, as for any user's domain.
	if strings.Contains(text, "-gdb") || strings.Contains(text, "qemu:commandline") {
		t.Errorf("the domain starts a gdbstub of its own:\n%s", text)
	}
	if !strings.Contains(DefaultCmdline, "nokaslr") || !strings.Contains(DefaultCmdline, "console=ttyS0") || strings.Contains(DefaultCmdline, "mitigations=") {
		t.Errorf("DefaultCmdline %q", DefaultCmdline)
	}
}

func TestDomainRefuses(t *testing.T) {
	f := fakeFiles(t)
	if _, err := NewDomain("a/b", f, Config{}); err == nil {
		t.Error("a name with a slash was accepted")
	}
	f.Busybox = filepath.Join(t.TempDir(), "missing")
	if _, err := NewDomain("x", f, Config{}); err == nil {
		t.Error("a missing busybox was accepted")
	}
	d := &Domain{Name: "x", Files: &Files{}}
	if _, err := d.XML(); err == nil {
		t.Error("XML without a kernel")
	}
}
