package service

// SetBeforeEnqueue installs a hook that runs between a send's checks and
// its commit (tests force concurrent writers into that gap).
func (s *Service) SetBeforeEnqueue(f func()) { s.beforeEnqueue = f }
