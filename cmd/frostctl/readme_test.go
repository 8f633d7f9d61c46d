package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The checker finds what breaks a paste into bash, and passes what does
// not.
func TestShellHazards(t *testing.T) {
	bad := []string{
		"frostctl break nt!NtWriteFile --process writer.exe",
		`frostctl symbols resolve "nt!NtWriteFile"`, // double quotes do not stop it
		"frostctl read --pid 420 7ff6`12340000 0x1000",
		"frostctl vtop --kernel \"fffff800`12345678\"",
		"frostctl ps # then break on nt!NtWriteFile",
		"echo 'a' nt!x 'b'",
	}
	good := []string{
		"frostctl break 'nt!NtWriteFile' --process writer.exe",
		"frostctl read --pid 420 '7ff6`12340000' 0x1000",
		"frostctl read --pid 420 7ff612340000 0x1000",
		`frostctl break nt\!NtWriteFile`,
		"[ ! -f x ] && test a != b",
		"frostctl launch demo --paging-file 'C:\\pagefile.sys' # a paging file",
		"frostctl ps # prints a table, 'quoted' or not",
	}
	for _, s := range bad {
		if len(shellHazards(s)) == 0 {
			t.Errorf("no hazard found in %s", s)
		}
	}
	for _, s := range good {
		if h := shellHazards(s); len(h) != 0 {
			t.Errorf("%s: %v", s, h)
		}
	}
}

// Every shell example of the README can be pasted into an interactive
// bash as it is (issue 12, item 11: nt!NtWriteFile triggered history
// expansion and 7ff6`12340000 opened a command substitution). Every fenced
// block says what it holds, so none escapes the check untagged.
func TestREADMEShellExamplesAreSafe(t *testing.T) {
	md, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := fencedBlocks(string(md))
	if err != nil {
		t.Fatal(err)
	}
	shell := 0
	for _, b := range blocks {
		switch b.lang {
		case "sh", "bash", "shell":
			shell++
			for _, h := range shellHazards(b.body) {
				t.Errorf("README.md block at line %d, %s", b.line, h)
			}
		case "":
			t.Errorf("README.md line %d: a fenced block without a language (sh for commands, text for output)", b.line)
		}
	}
	if shell == 0 {
		t.Error("README.md has no sh block: the check checked nothing")
	}
	for line, spans := range inlineCommands(string(md)) {
		for _, s := range spans {
			for _, h := range shellHazards(s) {
				t.Errorf("README.md line %d, `%s`: %s", line, s, h)
			}
		}
	}
}

// frostctl's own help (the command list, each command's usage line and
// flags) quotes what a shell would mangle: a 'module!name' and an address
// with a backtick are shown inside single quotes.
func TestHelpIsShellSafe(t *testing.T) {
	check := func(where, text string) {
		for i, l := range strings.Split(text, "\n") {
			for j, r := range l {
				if r != '`' && (r != '!' || !expandsHistory(nextRune(l, j))) {
					continue
				}
				start := strings.LastIndexAny(l[:j], " \t") + 1
				end := len(l)
				if k := strings.IndexAny(l[j:], " \t"); k >= 0 {
					end = j + k
				}
				tok := l[start:end]
				at := j - start
				if !strings.Contains(tok[:at], "'") || !strings.Contains(tok[at+1:], "'") {
					t.Errorf("%s, line %d: %q is not in single quotes: %s", where, i+1, tok, l)
				}
			}
		}
	}
	var out bytes.Buffer
	run(context.Background(), []string{"help"}, &out, &out)
	check("frostctl help", out.String())
	for _, c := range commands {
		out.Reset()
		run(context.Background(), []string{c.name, "--help"}, &out, &out)
		check("frostctl "+c.name+" --help", out.String())
	}
}

func nextRune(s string, i int) rune {
	if i+1 < len(s) {
		return rune(s[i+1])
	}
	return 0
}
