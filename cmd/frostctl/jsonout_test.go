package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// --json is for scripts (docs/frostctl-json.md): addresses in hex
// strings, other integers as numbers, every field present, enums by name,
// a register file as one flat object.
func TestJSONForScripts(t *testing.T) {
	sock := startServer(t)
	decode := func(args ...string) map[string]any {
		t.Helper()
		stdout, stderr, code := frostctl(t, sock, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(stdout), &m); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stdout)
		}
		return m
	}

	ps := decode("ps", "--vm", "win10", "--json")
	procs := ps["processes"].([]any)
	sys := procs[0].(map[string]any)
	if sys["eprocess"] != "0xffffd3017a26e040" || sys["dtb"] != "0x1aa000" || sys["pid"] != 4.0 || sys["parent_pid"] != 0.0 {
		t.Errorf("ps: addresses in hex, ids as numbers, zero ids present: %v", sys)
	}
	if v, ok := sys["exit_time"]; !ok || v != nil {
		t.Errorf("ps: an unset time is null, and present: %v", sys)
	}
	if sys["command_line"] != "" || sys["exited"] != false {
		t.Errorf("ps: empty strings and false are present: %v", sys)
	}
	if ps["truncated"] != false {
		t.Errorf("ps: truncated false is present: %v", ps)
	}

	vms := decode("vms", "--json")
	d := vms["domains"].([]any)[1].(map[string]any)
	if d["state"] != "DOMAIN_STATE_SHUTOFF" || d["attached"] != false || d["id"] != -1.0 {
		t.Errorf("vms: enum by name, every field: %v", d)
	}

	regs := decode("regs", "--vm", "win10", "--json")
	file := regs["cpus"].([]any)[0].(map[string]any)["registers"].(map[string]any)
	if file["rax"] != "0x0" || file["rip"] != "0x4444" || file["cr3"] != "0x5555" || file["xmm0"] != "0x"+strings.Repeat("0", 32) {
		t.Errorf("regs: one flat object of hex values: %v", file)
	}

	// --json=proto stays protojson's: 64-bit integers as decimal strings.
	stdout, _, _ := frostctl(t, sock, "ps", "--vm", "win10", "--json=proto")
	if !strings.Contains(stdout, `"`+strconv.FormatUint(0xffffd3017a26e040, 10)+`"`) {
		t.Errorf("--json=proto:\n%s", stdout)
	}
}

// A self-referring or unset message field is null, not an endless zero
// value; a oneof shows only the member that is set.
func TestJSONOneofsAndUnset(t *testing.T) {
	b, err := jsonOf(&pb.SymbolScope{Scope: &pb.SymbolScope_Vm{Vm: "win10"}})
	if err != nil || string(b) != `{"vm":"win10"}` {
		t.Errorf("oneof: %s, %v", b, err)
	}
	b, err = jsonOf(&pb.ResolveSymbolResponse{Address: 0xfffff80012345678})
	if err != nil || !strings.Contains(string(b), `"address":"0xfffff80012345678"`) || !strings.Contains(string(b), `"pdb":null`) ||
		!strings.Contains(string(b), `"source":"SYMBOL_SOURCE_UNSPECIFIED"`) || !strings.Contains(string(b), `"rva":"0x0"`) {
		t.Errorf("resolve: %s, %v", b, err)
	}
}
