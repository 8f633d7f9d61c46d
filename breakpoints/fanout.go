package breakpoints

import "time"

// publish offers ev to every subscriber that wants it, without blocking,
// and returns the holds it created: the guest waits for those.
func (m *Manager) publish(ev Event) []*hold {
	ev.Seq = m.evSeq.Add(1)
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	m.subsMu.Lock()
	subs := make([]*Subscription, 0, len(m.subs))
	for s := range m.subs {
		subs = append(subs, s)
	}
	m.subsMu.Unlock()
	var holds []*hold
	for _, s := range subs {
		if !s.wants(&ev) {
			continue
		}
		if h := s.offer(ev); h != nil {
			holds = append(holds, h)
		}
	}
	return holds
}

// closeSubs ends every subscription; later ones start closed.
func (m *Manager) closeSubs() {
	m.subsMu.Lock()
	subs := m.subs
	m.subs = map[*Subscription]struct{}{}
	m.subsClosed = true
	m.subsMu.Unlock()
	for s := range subs {
		s.shut()
	}
}
