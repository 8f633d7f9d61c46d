package minint

import (
	"context"
	"encoding/xml"
	"errors"
	"testing"
)

// netDoc is the network part of the domain XML.
type netDoc struct {
	Interfaces []struct {
		Type  string `xml:"type,attr"`
		Model struct {
			Type string `xml:"type,attr"`
		} `xml:"model"`
		ROM struct {
			Enabled string `xml:"enabled,attr"`
		} `xml:"rom"`
	} `xml:"devices>interface"`
	QEMUArgs []struct {
		Value string `xml:"value,attr"`
	} `xml:"http://libvirt.org/schemas/domain/qemu/1.0 commandline>arg"`
}

func domainNetDoc(t *testing.T, cfg Config) netDoc {
	t.Helper()
	cfg.GuestDir = fakeGuestDir(t)
	d, err := NewDomain("frost-test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	text, err := d.XML()
	if err != nil {
		t.Fatal(err)
	}
	var doc netDoc
	if err := xml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("domain XML does not parse: %v\n%s", err, text)
	}
	return doc
}

func TestDomainXMLNetwork(t *testing.T) {
	doc := domainNetDoc(t, Config{Network: true, FilterDump: "/tmp/a&b/oracle.pcap"})
	if len(doc.Interfaces) != 1 {
		t.Fatalf("interfaces = %+v, want one", doc.Interfaces)
	}
	i := doc.Interfaces[0]
	if i.Type != "user" || i.Model.Type != "e1000" || i.ROM.Enabled != "no" {
		t.Errorf("interface = %+v, want user-mode e1000 without option ROM", i)
	}
	if len(doc.QEMUArgs) != 4 {
		t.Fatalf("qemu:commandline args = %+v", doc.QEMUArgs)
	}
	got := doc.QEMUArgs[2].Value + " " + doc.QEMUArgs[3].Value
	if want := "-object filter-dump,id=frostdump0,netdev=hostnet0,file=/tmp/a&b/oracle.pcap"; got != want {
		t.Errorf("filter-dump args = %q, want %q", got, want)
	}

	doc = domainNetDoc(t, Config{Network: true})
	if len(doc.Interfaces) != 1 || len(doc.QEMUArgs) != 2 {
		t.Errorf("Network without FilterDump: interfaces %+v, args %+v", doc.Interfaces, doc.QEMUArgs)
	}
	doc = domainNetDoc(t, Config{})
	if len(doc.Interfaces) != 0 {
		t.Errorf("the default domain has interfaces %+v", doc.Interfaces)
	}
}

func TestFilterDumpRejects(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"without network", Config{FilterDump: "/tmp/x.pcap"}},
		{"relative", Config{Network: true, FilterDump: "x.pcap"}},
		{"comma", Config{Network: true, FilterDump: "/tmp/a,b.pcap"}},
		{"newline", Config{Network: true, FilterDump: "/tmp/a\nb.pcap"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.GuestDir = "out"
			_, err := tt.cfg.withDefaults()
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != "FilterDump" {
				t.Errorf("error = %v, want a ConfigError on FilterDump", err)
			}
		})
	}
}

// A direct QEMU machine has no NIC; asking for one fails before anything
// is started or locked.
func TestStartRejectsNetwork(t *testing.T) {
	_, err := Start(context.Background(), Config{GuestDir: fakeGuestDir(t), Network: true})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "Network" {
		t.Errorf("Start(Network) = %v, want a ConfigError on Network", err)
	}
}
