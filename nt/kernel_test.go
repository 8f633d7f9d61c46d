package nt

import (
	"sync"
	"testing"
)

// TestConcurrentUse: walks from many goroutines while the reader is
// swapped (run with -race).
func TestConcurrentUse(t *testing.T) {
	g := newGuest(t, false)
	g.initList(g.global("PsActiveProcessHead"))
	ep := g.process(0x44, 4, 0x5000, "swapper.exe")
	buildVADs(g, ep, sampleVADs)
	k := g.kernel()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if i == 0 {
					k.SetMemory(g.mem)
				}
				if _, ok, err := k.FindVAD(0x5000, 0x10000); !ok || err != nil {
					t.Errorf("FindVAD: %v %v", ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
