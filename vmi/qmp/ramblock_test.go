package qmp

import (
	"errors"
	"testing"
)

func TestParseRAMBlocks(t *testing.T) {
	for _, tc := range []struct {
		file, name string
		used       uint64
	}{
		{"tcg-128/ramblock.txt", "mem", 128 << 20},
		{"tcg-5120/ramblock.txt", "mem", 5120 << 20},
		{"kvm-5120/ramblock.txt", "mem", 5120 << 20},
		{"tcg-private/ramblock.txt", "pc.ram", 128 << 20},
		{"libvirt/ramblock.txt", "pc.ram", 128 << 20},
	} {
		blocks, err := ParseRAMBlocks(readTestdata(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if len(blocks) != 8 && tc.file != "libvirt/ramblock.txt" {
			t.Errorf("%s: %d blocks, want 8", tc.file, len(blocks))
		}
		b := blocks[0]
		if b.Name != tc.name || b.Used != tc.used || b.Total != tc.used || b.PageSize != 4096 || b.Offset != 0 {
			t.Errorf("%s: first block %+v", tc.file, b)
		}
		if tc.file == "libvirt/ramblock.txt" {
			continue
		}
		acpi := blocks[2]
		if acpi.Name != "/rom@etc/acpi/tables" || acpi.Used != 0x20000 || acpi.Total != 0x200000 {
			t.Errorf("%s: resizeable block %+v", tc.file, acpi)
		}
	}
}

func TestParseRAMBlocksSizes(t *testing.T) {
	text := "              Block Name    PSize              Offset               Used              Total\n" +
		"                  pc.ram    2 MiB  0x0000000000000000 0x0000000040000000 0x0000000040000000\n" +
		"                   huge1    1 GiB  0x0000000040000000 0x0000000040000000 0x0000000040000000\n" +
		"                   odd 1  1.5 KiB  0x0000000080000000 0x0000000000001000 0x0000000000001000\n"
	blocks, err := ParseRAMBlocks(text)
	if err != nil {
		t.Fatal(err)
	}
	if blocks[0].PageSize != 2<<20 || blocks[1].PageSize != 1<<30 || blocks[2].PageSize != 1536 || blocks[2].Name != "odd 1" {
		t.Errorf("blocks %+v", blocks)
	}
}

func TestParseRAMBlocksErrors(t *testing.T) {
	hdr := "Block Name    PSize              Offset               Used              Total\n"
	for _, text := range []string{
		"",
		"mem 4 KiB 0x0 0x1000 0x1000\n",
		hdr,
		hdr + "mem 4 KiB 0x0 0x1000\n",
		hdr + "mem 4 KiB 0x0 0x2000 0x1000\n",
		hdr + "mem 4 XiB 0x0 0x1000 0x1000\n",
		hdr + "mem x KiB 0x0 0x1000 0x1000\n",
		hdr + "mem 4 KiB 0 0x1000 0x1000\n",
		hdr + "mem 4 KiB 0xg 0x1000 0x1000\n",
		hdr + "mem 99999999 EiB 0x0 0x1000 0x1000\n",
	} {
		var re *RAMBlockError
		if _, err := ParseRAMBlocks(text); !errors.As(err, &re) {
			t.Errorf("%q: got %v, want *RAMBlockError", text, err)
		}
	}
}
