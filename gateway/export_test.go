package gateway

import "time"

// SetLoginClock replaces the clock the lockout of failed logins reads.
func SetLoginClock(s *Server, now func() time.Time) { s.front.logins.setClock(now) }
