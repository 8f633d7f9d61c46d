package client_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/frostvmi/frost/client"
)

// Read a page of a process: through the local mapping on frostd's host,
// over gRPC otherwise, with the same bytes either way.
func ExampleClient_ReadVirtual() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "/run/frost/frostd.sock")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if err := c.LocalMemory(ctx, "win10"); err != nil {
		fmt.Println("reading over gRPC:", err)
	}
	buf := make([]byte, 4096)
	err = c.ReadVirtual(ctx, "win10", 1234, 0x7ff612340000, buf)
	var pe *client.PartialError
	switch {
	case errors.As(err, &pe):
		for _, p := range pe.Pages {
			fmt.Printf("%#x +%#x not read: %s\n", p.GetAddress(), p.GetLength(), p.GetReason())
		}
	case err != nil:
		fmt.Println(err)
	}
}
