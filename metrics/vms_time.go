package metrics

import (
	"time"

	"github.com/frostvmi/frost/session"
)

func timeSince(s *session.Session) float64 { return time.Since(s.Since).Seconds() }
