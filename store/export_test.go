package store

// SetBeforeResetTx installs a hook that runs between ResetPassword's first
// look at the link and its transaction (tests force a second use there).
func SetBeforeResetTx(s *Store, f func()) { s.beforeResetTx = f }
