package vmitest

// Failure injection. A failed call changes nothing in the guest and is
// logged with its error.

// FailNext makes the next call of op fail with err (queued: several calls
// fail in turn).
func (t *Target) FailNext(op Op, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fails[op] = append(t.fails[op], err)
}

// FailAlways makes every call of op fail with err, until FailAlways(op,
// nil).
func (t *Target) FailAlways(op Op, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		delete(t.always, op)
		return
	}
	t.always[op] = err
}

// Hook runs h at the start of every call of op, before the call does
// anything; a non-nil return fails the call. h runs without the fake's
// lock, so it may script the guest (an outside pause arriving mid-work);
// nil removes the hook.
func (t *Target) Hook(op Op, h func(Call) error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h == nil {
		delete(t.hooks, op)
		return
	}
	t.hooks[op] = h
}
