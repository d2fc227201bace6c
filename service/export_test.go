package service

// SetBeforeEnqueue installs a hook that runs between a send's checks and
// its commit (tests force concurrent writers into that gap).
func (s *Service) SetBeforeEnqueue(f func()) { s.beforeEnqueue = f }

// SetBeforeAccountChange installs a hook that runs between an admin
// action's read of its target user and its transaction.
func (s *Service) SetBeforeAccountChange(f func()) { s.beforeAccountChange = f }
