package main

import (
	"testing"

	"github.com/spf13/cobra"
)

// Every command's --help has a one-line summary, a description and an
// example (issue 19), cobra's own completion commands included.
func TestEveryCommandHelp(t *testing.T) {
	c := &cli{}
	var walk func(cmd *cobra.Command)
	n := 0
	walk = func(cmd *cobra.Command) {
		if cmd.Hidden || cmd.Name() == "help" {
			return
		}
		n++
		if cmd.Short == "" || cmd.Long == "" || cmd.Example == "" {
			t.Errorf("%s: summary %q, description %d bytes, example %q", cmd.CommandPath(), cmd.Short, len(cmd.Long), cmd.Example)
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(c.root())
	if n < len(commands) {
		t.Errorf("walked %d commands, fewer than the %d registered", n, len(commands))
	}
}

// BenchmarkCommandTree is frostctl's own start-up work before a call:
// building the command tree and parsing one command line.
func BenchmarkCommandTree(b *testing.B) {
	for b.Loop() {
		c := &cli{}
		root := c.root()
		cmd, args, err := root.Find([]string{"read", "--vm", "win10", "--pid", "420", "0x1000", "16"})
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.ParseFlags(args); err != nil {
			b.Fatal(err)
		}
	}
}
