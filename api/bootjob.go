package api

import (
	"context"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// A boot is frostd's, not the client's: it starts a domain paused, and a
// boot cut short by a client that left (^C, a dropped connection) would
// leave the domain paused and unconfigured. So Boot runs as a job that
// records what it sends; clients only watch it (Boot's own stream, then
// WatchBoot), and the latest job of each domain stays readable after it
// ends, until frostd exits or the domain is booted again.

// maxBootEvents bounds a job's record: winboot sends a few dozen steps,
// but a guest that resets in a loop must cost bounded memory. The final
// status is always kept.
const maxBootEvents = 1000

// bootJob is one Boot, running or ended.
type bootJob struct {
	name string

	mu      sync.Mutex
	events  []*pb.BootResponse
	dropped int
	status  *pb.BootStatus // set once the boot has ended
	changed chan struct{}  // closed and replaced at each new event
}

// bootJobs holds the latest job of each domain.
type bootJobs struct {
	mu   sync.Mutex
	jobs map[string]*bootJob
}

// start records a new job for name, unless one is still running.
func (b *bootJobs) start(name string) (*bootJob, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if j := b.jobs[name]; j != nil && !j.ended() {
		return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_VM_RUNNING,
			"a boot of "+name+" is in progress: `frostctl boot --status "+name+"` follows it", "vm", name)
	}
	if b.jobs == nil {
		b.jobs = map[string]*bootJob{}
	}
	j := &bootJob{name: name, changed: make(chan struct{})}
	b.jobs[name] = j
	return j, nil
}

// get returns the latest job for name, or nil.
func (b *bootJobs) get(name string) *bootJob {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.jobs[name]
}

func (j *bootJob) ended() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.status != nil
}

// add records one event and wakes the watchers.
func (j *bootJob) add(ev *pb.BootResponse) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.status != nil {
		return
	}
	if st := ev.GetStatus(); st != nil {
		j.status = st
	} else if len(j.events) >= maxBootEvents {
		j.dropped++
		return
	}
	j.events = append(j.events, ev)
	close(j.changed)
	j.changed = make(chan struct{})
}

// progress records a progress step.
func (j *bootJob) progress(phase pb.BootPhase, msg string) {
	j.add(&pb.BootResponse{Event: &pb.BootResponse_Progress{Progress: &pb.BootProgress{
		Time: timestamppb.Now(), Phase: phase, Message: msg}}})
}

// finish records the final status; the job has ended.
func (j *bootJob) finish(st *pb.BootStatus) {
	j.add(&pb.BootResponse{Event: &pb.BootResponse_Status{Status: st}})
}

// watch sends the job's events from the first on: what is recorded, then,
// with follow, each new one until the status. It ends early only when send
// fails or ctx ends (the client left); the job goes on.
func (j *bootJob) watch(ctx context.Context, follow bool, send func(*pb.BootResponse) error) error {
	next := 0
	for {
		j.mu.Lock()
		evs, ended, changed := j.events[next:], j.status != nil, j.changed
		j.mu.Unlock()
		for _, ev := range evs {
			if err := send(ev); err != nil {
				return err
			}
			next++
		}
		if ended || !follow {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}
