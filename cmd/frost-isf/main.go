// Command frost-isf converts a PDB into Volatility 3's Intermediate
// Symbol Format, so what Frost reads from a PDB can be used by Volatility
// 3 users too. It stands in for `frostctl symbols convert` until frostctl
// exists.
//
//	frost-isf [-o FILE | -store DIR] [-name NAME] INPUT
//
// INPUT is a PDB (or an ISF, which is rewritten). By default the output
// is <GUID>-<AGE>.json.xz in the current directory; -o names the file
// (plain JSON unless it ends in .xz); -store DIR writes it where a symbol
// store or Volatility 3 looks for it: DIR/<pdbname>/<GUID>-<AGE>.json.xz.
// -name overrides the PDB name recorded in the ISF (a PDB does not know
// its own name; by default it is INPUT's file name).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/frostvmi/frost/symbols/isf"
	"github.com/frostvmi/frost/symbols/store"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("frost-isf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output `file` (.json or .json.xz)")
	dir := fs.String("store", "", "write into the store `directory` DIR/<pdbname>/<GUID>-<AGE>.json.xz")
	name := fs.String("name", "", "PDB `name` to record (default: the input's file name)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: frost-isf [-o FILE | -store DIR] [-name NAME] INPUT.pdb")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || (*out != "" && *dir != "") {
		fs.Usage()
		return 2
	}
	tab, err := store.OpenFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "frost-isf:", err)
		return 1
	}
	d := tab.Data()
	if *name != "" {
		d.ID.PDBName = *name
	}
	if err := store.CheckName(d.ID.PDBName); err != nil {
		fmt.Fprintln(stderr, "frost-isf:", err)
		return 1
	}
	path := *out
	switch {
	case *dir != "":
		path = filepath.Join(*dir, filepath.FromSlash(store.ISFPath(d.ID, ".json.xz")))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintln(stderr, "frost-isf:", err)
			return 1
		}
	case path == "":
		path = d.ID.ISFKey() + ".json.xz"
	}
	if err := isf.WriteFile(path, d); err != nil {
		fmt.Fprintln(stderr, "frost-isf:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s, %d types, %d enums, %d symbols\n", path, d.ID, len(d.UserTypes), len(d.Enums), len(d.Symbols))
	return 0
}
