package breakpoints

import (
	"context"
	"fmt"
	"time"
)

// bounded runs fn, code from outside this package (nt's predicates and
// resolver, a translator), under the filter deadline. It runs on a
// goroutine of its own so that one which ignores its context cannot keep
// the guest stopped: the loop moves on at the deadline and the goroutine's
// late answer is dropped.
func bounded[T any](m *Manager, fn func(ctx context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.FilterTimeout)
	type result struct {
		v   T
		err error
	}
	out := make(chan result, 1)
	go func() {
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				var zero T
				out <- result{zero, fmt.Errorf("%w: %v", ErrHandlerPanic, p)}
			}
		}()
		v, err := fn(ctx)
		out <- result{v, err}
	}()
	timer := time.NewTimer(m.opts.FilterTimeout)
	defer timer.Stop()
	select {
	case r := <-out:
		return r.v, r.err
	case <-timer.C:
		var zero T
		return zero, ErrFilterTimeout
	}
}
