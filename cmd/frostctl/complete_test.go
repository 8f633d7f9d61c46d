package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/frostvmi/frost/api"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// complete runs cobra's completion entry point (what the shell scripts of
// frostctl completion call) and returns the offered words and directive.
func complete(t *testing.T, args ...string) (words []string, directive string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), append([]string{"__complete"}, args...), &out, &errb); code != 0 {
		t.Fatalf("__complete %v: exit %d: %s", args, code, errb.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(l, ":") {
			directive = l
			continue
		}
		words = append(words, l)
	}
	return words, directive
}

// Tab completes VM names (of --vm, attach, boot) from ListDomains, and
// module!symbol (of break, symbols resolve) from CompleteSymbol; with no
// frostd it offers nothing, and returns.
func TestCompletion(t *testing.T) {
	d := startFrostd(t)
	if got, _ := complete(t, "--addr", d.sock, "attach", ""); !slices.Equal(got, []string{"mini-nt", "scratch", "win10"}) {
		t.Errorf("attach <tab> = %q", got)
	}
	if got, _ := complete(t, "--addr", d.sock, "ps", "--vm", "w"); !slices.Equal(got, []string{"win10"}) {
		t.Errorf("ps --vm w<tab> = %q", got)
	}
	got, _ := complete(t, "--addr", d.sock, "symbols", "resolve", "--pdb", isfPDB, "nt!NtWriteF")
	if !slices.Contains(got, "nt!NtWriteFile") || !slices.Contains(got, "nt!NtWriteFileGather") {
		t.Errorf("symbols resolve nt!NtWriteF<tab> = %q", got)
	}
	for _, w := range got {
		if !strings.HasPrefix(w, "nt!NtWriteF") {
			t.Errorf("offered %q for nt!NtWriteF", w)
		}
	}
	// Modules complete with no space after them: the name follows.
	got, dir := complete(t, "--addr", d.sock, "symbols", "resolve", "--pdb", isfPDB, "n")
	if !slices.Equal(got, []string{"nt!"}) || dir != ":6" {
		t.Errorf("symbols resolve n<tab> = %q %s, want nt! with no space and no files (:6)", got, dir)
	}
	if got, _ := complete(t, "--addr", d.sock, "symbols", "resolve", "--pdb", isfPDB, "hal"); len(got) != 0 {
		t.Errorf("symbols resolve hal<tab> in one PDB = %q, want nothing", got)
	}
	// The fake VM has no Windows kernel: nothing, not an error.
	if got, _ := complete(t, "--addr", d.sock, "break", "--vm", "win10", "nt!Nt"); len(got) != 0 {
		t.Errorf("break nt!Nt<tab> on a guest without Windows = %q", got)
	}
	absent := filepath.Join(t.TempDir(), "none.sock")
	if got, _ := complete(t, "--addr", absent, "attach", ""); len(got) != 0 {
		t.Errorf("attach <tab> without frostd = %q", got)
	}
}

// completion SHELL prints a script for each shell; man writes a page per
// command, each naming its command and carrying its example.
func TestCompletionScriptsAndManPages(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"completion", sh}, &out, &errb); code != 0 || !strings.Contains(out.String(), "frostctl") {
			t.Errorf("completion %s: exit %d, %d bytes: %s", sh, code, out.Len(), errb.String())
		}
	}
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"man", dir}, &out, &errb); code != 0 {
		t.Fatalf("man: exit %d: %s", code, errb.String())
	}
	want := []string{"frostctl"}
	for _, c := range commands {
		if len(c.subs) == 0 {
			want = append(want, "frostctl-"+c.name)
		}
		for _, s := range c.subs {
			want = append(want, "frostctl-"+c.name+"-"+s.name)
		}
	}
	for _, name := range want {
		page := readFile(t, filepath.Join(dir, name+".1"))
		title := strings.ToUpper(name)
		if !strings.HasPrefix(page, ".TH "+title+" 1") || !strings.Contains(page, ".SH SYNOPSIS") || !strings.Contains(page, ".SH DESCRIPTION") {
			t.Errorf("%s.1 lacks its title, synopsis or description:\n%s", name, page)
		}
		if name != "frostctl" && !strings.Contains(page, ".SH EXAMPLES") {
			t.Errorf("%s.1 has no example", name)
		}
	}
}

// --version prints frostctl's version and frostd's, or that frostd is
// unreachable (exit 0 either way: finding out is what it is for).
func TestVersion(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "frostd.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterVersionServiceServer(srv, api.NewVersionServer())
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--addr", sock, "--version"}, &out, &errb); code != 0 {
		t.Fatalf("--version: exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "frostctl ") || !strings.HasPrefix(lines[1], "frostd ") || !strings.HasSuffix(lines[1], "API frost.v1") {
		t.Errorf("--version:\n%s", out.String())
	}
	out.Reset()
	absent := filepath.Join(t.TempDir(), "none.sock")
	if code := run(context.Background(), []string{"--addr", absent, "version", "--json"}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), `"server": null`) || !strings.Contains(out.String(), "no frostd socket") {
		t.Errorf("version --json without frostd: exit %d\n%s", code, out.String())
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
