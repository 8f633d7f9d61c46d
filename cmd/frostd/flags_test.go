package main

import (
	"io"
	"testing"
)

// A mistyped --log-level or --log-format is refused rather than replaced
// by a default the operator did not ask for.
func TestLogFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{{"--log-level", "verbose"}, {"--log-format", "yaml"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	if _, err := parseFlags([]string{"--log-level", "WARN", "--log-format", "JSON"}, io.Discard); err != nil {
		t.Errorf("upper-case level and format: %v", err)
	}
}
