package main

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

// No image can be built here (no Docker engine, no registry), so this
// checks what can go stale without one: the Dockerfile's build stage runs
// `make build`'s own build command, and ships what it builds.
func TestDockerfileBuildsLikeMake(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^BUILD_CMD\s*:?=\s*(.+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile has no BUILD_CMD")
	}
	want := normalize(strings.ReplaceAll(string(m[1]), "$(GO)", "go"))
	if !regexp.MustCompile(`(?m)^\s+\$\(BUILD_CMD\)\s*$`).Match(mk) {
		t.Error("`make build` does not run $(BUILD_CMD)")
	}

	instrs := dockerInstructions(t, "../../Dockerfile")
	stage, builds, copies := "", 0, false
	for _, in := range instrs {
		switch in.op {
		case "FROM":
			f := strings.Fields(in.args)
			stage = ""
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				stage = f[2]
			}
		case "RUN":
			if stage == "build" && strings.Contains(in.args, "go build") {
				builds++
				if got := normalize(in.args); got != want {
					t.Errorf("Dockerfile builds with\n  %s\nmake build with\n  %s", got, want)
				}
			}
		case "COPY":
			if strings.Contains(in.args, "--from=build") && strings.Contains(in.args, "bin/frostd") && strings.Contains(in.args, "bin/frostctl") {
				copies = true
			}
		}
	}
	if builds != 1 {
		t.Errorf("the build stage has %d `go build` steps, want 1", builds)
	}
	if !copies {
		t.Error("the runtime stage does not copy bin/frostd and bin/frostctl from the build stage")
	}
}

type instruction struct{ op, args string }

// dockerInstructions reads a Dockerfile: comments dropped, continuation
// lines joined.
func dockerInstructions(t *testing.T, path string) []instruction {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		op, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(op), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }
