package nt_test

import (
	"context"
	"fmt"

	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/translate"
)

// Open a paused guest, list its processes with their VADs, and read one
// process's memory through the translator Open built.
func ExampleOpen() {
	ctx := context.Background()
	var mem translate.Physical // vmi/physmem's Memory, or vmi.ReaderAt(target)
	var regs nt.Registers      // a stop's registers (gdbstub.Registers)
	st, err := store.New(`srv*/var/cache/frost*https://msdl.microsoft.com/download/symbols`, "")
	if err != nil {
		return
	}
	k, err := nt.Open(ctx, nt.Config{Physical: mem, Registers: regs, Symbols: st})
	if err != nil {
		fmt.Println(err) // errors.Is(err, nt.ErrKernelNotFound) when no kernel image was found
		return
	}
	procs, err := k.Processes()
	for _, p := range procs {
		vads, _ := k.VADs(p)
		fmt.Println(p, len(vads), "VADs")
	}
	if err != nil {
		fmt.Println("the list ends early:", err) // a *nt.WalkError or *nt.ReadError
	}
	p, err := k.ProcessByName("writer.exe")
	if err != nil {
		return
	}
	buf := make([]byte, 4096)
	res := k.Translator.ReadVirtual(p.DTB, 0x7ffdf000, buf)
	for _, pg := range res.Pages() {
		fmt.Println(pg.VA, pg.Location, pg.Err)
	}
}
