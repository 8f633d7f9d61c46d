package session

import "github.com/frostvmi/frost/translate"

// TranslateStats sums what the VM's translators counted of the reads
// they served (TLB lookups, pages by PTE state, walk-cache lookups): the
// processor's walk, which serves any guest, and the Windows kernel's
// translator once one was found. It reads atomic counters only: no lock,
// nothing asked of the guest.
//
// A guest reset drops the kernel's translator, so the sum can go down
// once; Prometheus takes that as a counter reset.
func (s *Session) TranslateStats() translate.Stats {
	var st translate.Stats
	if s.k.hw != nil {
		st = s.k.hw.Stats()
	}
	if tr := s.foundTranslator(); tr != nil {
		st = st.Add(tr.Stats())
	}
	return st
}
