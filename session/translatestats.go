package session

import (
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/translate"
)

// TranslateStats sums what the VM's translators counted of the reads
// they served (TLB lookups, pages by PTE state, walk-cache lookups): the
// processor's walk, which serves any guest, and the Windows kernel's
// translator once one was found. It reads atomic counters only: no lock,
// nothing asked of the guest.
//
// The counts of kernel translators a reset (or a new kernel) replaced are
// kept, so the sums only grow, as Prometheus counters must.
func (s *Session) TranslateStats() translate.Stats {
	s.k.retiredMu.Lock()
	st := s.k.retired
	s.k.retiredMu.Unlock()
	if s.k.hw != nil {
		st = st.Add(s.k.hw.Stats())
	}
	if tr := s.foundTranslator(); tr != nil {
		st = st.Add(tr.Stats())
	}
	return st
}

// setFound makes k the kernel readers find without a lock, and keeps the
// counts of the translator it replaces.
func (s *Session) setFound(k *nt.Opened) {
	old := s.k.found.Swap(k)
	if old == nil || old.Translator == nil || (k != nil && k.Translator == old.Translator) {
		return
	}
	s.k.retiredMu.Lock()
	s.k.retired = s.k.retired.Add(old.Translator.Stats())
	s.k.retiredMu.Unlock()
}
