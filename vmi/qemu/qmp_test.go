package qemu

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestQMPGreetingSkipsLeftoverEvents(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"greeting", `{"QMP": {"version": {}, "capabilities": []}}`, true},
		{"a previous client's event first", `{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"} {"QMP": {"version": {}}}`, true},
		{"something else", `{"return": {}}`, false},
		{"cut short", `{"timestamp": {}, "event": "STOP"}`, false},
	} {
		err := qmpGreeting(json.NewDecoder(strings.NewReader(tc.in)))
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
