package session

import "sort"

// BootPhase is how long one stage of a VM's latest boot took: from the
// stage's first step to the next stage's first step (or the boot's last
// step, for the last stage).
type BootPhase struct {
	VM, Stage string
	Seconds   float64
}

// Phases lists the stage durations of the latest boot of each VM the
// Booter ran, for the metrics endpoint. A stage seen twice (a reset that
// started the wait again) adds up.
func (b *Booter) Phases() []BootPhase {
	b.mu.Lock()
	jobs := make(map[string]*BootJob, len(b.jobs))
	for name, j := range b.jobs {
		jobs[name] = j
	}
	b.mu.Unlock()
	var out []BootPhase
	for name, j := range jobs {
		j.mu.Lock()
		steps := append([]BootStep(nil), j.steps...)
		j.mu.Unlock()
		sum := map[string]float64{}
		var order []string
		for i := 0; i+1 < len(steps); i++ {
			st := steps[i].Stage
			if _, seen := sum[st]; !seen {
				order = append(order, st)
				sum[st] = 0
			}
			// Time between consecutive steps belongs to the earlier
			// step's stage; a clock step backwards counts as nothing.
			if d := steps[i+1].Time.Sub(steps[i].Time).Seconds(); d > 0 {
				sum[st] += d
			}
		}
		for _, st := range order {
			out = append(out, BootPhase{VM: name, Stage: st, Seconds: sum[st]})
		}
	}
	sort.SliceStable(out, func(i, k int) bool { return out[i].VM < out[k].VM })
	return out
}
