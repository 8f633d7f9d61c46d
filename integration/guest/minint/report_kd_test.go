package minint

import (
	"strings"
	"testing"
)

// Lines as the guest printed them on a seed=7 boot.
const kdReport = `frost-guest: shared-data va=0xfffff78000000000 user-va=0x7ffe0000 pa=0x36a000 nt-major=10 nt-minor=0 build=19041 product-type=1 processors=1 physical-pages=31862 system-root=C:\Windows system-time=0x1dd8579e88bdc80
frost-guest: kdbg address=0xfffff8017c20e220 owner-tag=KDBG size=0x380 kern-base=0xfffff8017c200000 ps-loaded-module-list=0xfffff8017c20d188 ps-active-process-head=0xfffff8017c20d178 mm-pfn-database=0xfffff8017c2121c0 pfn-database=0xffffa00100000000 pte-base=0xffff958000000000 build-lab=19041.1.amd64fre.minint.000000-0000 offset-eprocess-dtb=0x28 size-eprocess=0x140
frost-guest: kd-version-block address=0xfffff8017c20e5b8 major=0xf minor=19041 machine=0x8664 kern-base=0xfffff8017c200000 debugger-data-list=0xfffff8017c20e5a0
frost-guest: selfmap index=0x12b pte-base=0xffff958000000000 pde-base=0xffff95cac0000000 ppe-base=0xffff95cae5600000 pxe-base=0xffff95cae572b000 system-dtb=0x1ad000
frost-guest: service-table address=0xfffff8017c215dc0 limit=3
frost-guest: service number=0 entry=0xfff46d00 routine=0xfffff8017c20a490 arguments=0
frost-guest: service number=1 entry=0xfff47100 routine=0xfffff8017c20a4d0 arguments=0
frost-guest: service number=2 entry=0xffeb2702 routine=0xfffff8017c201030 arguments=2
`

func TestReportDebuggerStructures(t *testing.T) {
	rep, err := ParseReport(strings.NewReader(kdReport))
	if err != nil {
		t.Fatal(err)
	}
	d, err := rep.DebuggerData()
	if err != nil {
		t.Fatal(err)
	}
	if d.KernBase != 0xfffff8017c200000 || d.PsActiveProcessHead != 0xfffff8017c20d178 ||
		d.PfnDatabase != 0xffffa00100000000 || d.BuildLab != "19041.1.amd64fre.minint.000000-0000" || d.Size != 0x380 {
		t.Errorf("DebuggerData = %+v", d)
	}
	v, err := rep.VersionBlock()
	if err != nil || v.Minor != 19041 || v.Machine != 0x8664 || v.DebuggerDataList != 0xfffff8017c20e5a0 {
		t.Errorf("VersionBlock = %+v, %v", v, err)
	}
	s, err := rep.SelfMap()
	if err != nil || s.Index != 0x12b || s.SystemDTB != 0x1ad000 {
		t.Errorf("SelfMap = %+v, %v", s, err)
	}
	k, err := rep.SharedData()
	if err != nil || k.VA != 0xfffff78000000000 || k.UserVA != 0x7ffe0000 || k.SystemRoot != `C:\Windows` || k.NtMajor != 10 {
		t.Errorf("SharedData = %+v, %v", k, err)
	}
	st, err := rep.ServiceTable()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Entries) != 3 || st.Entries[2].Routine != 0xfffff8017c201030 || st.Entries[2].Arguments != 2 {
		t.Errorf("ServiceTable = %+v", st)
	}
}

func TestReportDebuggerStructuresRejects(t *testing.T) {
	for name, c := range map[string]struct {
		from, to string
		check    func(Report) error
	}{
		"kdbg without its tag": {"owner-tag=KDBG", "owner-tag=KDBX", func(r Report) error { _, err := r.DebuggerData(); return err }},
		"selfmap base not from index": {"pte-base=0xffff958000000000 pde", "pte-base=0xffff950000000000 pde",
			func(r Report) error { _, err := r.SelfMap(); return err }},
		"service entry that decodes elsewhere": {"entry=0xfff47100", "entry=0xfff47200",
			func(r Report) error { _, err := r.ServiceTable(); return err }},
		"service missing": {"frost-guest: service number=2", "frost-guest: other number=2",
			func(r Report) error { _, err := r.ServiceTable(); return err }},
		"no shared-data": {"frost-guest: shared-data", "frost-guest: other-data",
			func(r Report) error { _, err := r.SharedData(); return err }},
	} {
		rep, err := ParseReport(strings.NewReader(strings.Replace(kdReport, c.from, c.to, 1)))
		if err != nil {
			t.Fatal(name, err)
		}
		if c.check(rep) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDecodeServiceEntry(t *testing.T) {
	// A routine below the table has a negative offset: the shift must
	// keep the sign.
	if got := DecodeServiceEntry(0xfffff8017c215dc0, 0xffeb2702); got != 0xfffff8017c201030 {
		t.Errorf("below: %#x", got)
	}
	if got := DecodeServiceEntry(0xfffff80000001000, 0x00000103); got != 0xfffff80000001010 {
		t.Errorf("above: %#x", got)
	}
}
