package translate

import "testing"

func TestProtectionString(t *testing.T) {
	for p, want := range map[uint64]string{
		0: "NoAccess", 1: "ReadOnly", 3: "ExecuteRead", 4: "ReadWrite", 7: "ExecuteWriteCopy",
		0x0c: "ReadWrite|NoCache", 0x14: "ReadWrite|Guard", 0x1c: "ReadWrite|WriteCombine",
		0x10: "Decommitted", 0x18: "NoAccess",
	} {
		if got := ProtectionString(p); got != want {
			t.Errorf("ProtectionString(0x%x) = %q, want %q", p, got, want)
		}
	}
}

func TestNames(t *testing.T) {
	if Kind(99).String() != "Kind(99)" || State(99).String() != "State(99)" || Level(99).String() != "Level(99)" {
		t.Error("unknown values must still print")
	}
	if (Where{Space: 9}).String() != "Space(9) @ 0x0" {
		t.Error(Where{Space: 9}.String())
	}
}
