package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

// Readiness probe limits.
const (
	readyDBTimeout    = 2 * time.Second
	readyTokenTimeout = 3 * time.Second
	// readyRefetchAfter: after a failed token fetch, probes report that
	// failure instead of asking WeChat again (fetches count against a
	// daily quota, docs/wechat.md §1, and a load balancer may probe every few seconds).
	readyRefetchAfter = 30 * time.Second
)

type readyCheck struct {
	OK     bool        `json:"ok"`
	Reason string      `json:"reason,omitempty"`
	Paused []pauseInfo `json:"paused,omitempty"` // the outbox check: kinds WeChat's daily quota stopped
	// The outbox check: the queue (backlog.go).
	Backlog *apiBacklog `json:"backlog,omitempty"`
}

type pauseInfo struct {
	Kind   string `json:"kind"`
	Until  string `json:"until"` // RFC 3339
	Reason string `json:"reason"`
}

type readyReport struct {
	Status string                `json:"status"` // ready or not_ready
	Checks map[string]readyCheck `json:"checks"`
}

// healthz says the process is up and serving HTTP, nothing more.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

// readyz says whether the service can do its job: the database takes
// writes and a WeChat access token is at hand (or can be fetched now).
// 200 when ready, 503 otherwise; the JSON body names the failing check.
// Reasons never carry secrets: token errors are WeChat's code and message.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	rep := readyReport{Status: "ready", Checks: map[string]readyCheck{
		"database": s.checkDatabase(r.Context()),
		"wechat":   s.checkWeChat(r.Context()),
		"outbox":   s.checkOutbox(r.Context()),
		// alerts.go: another system fights over the AppSecret.
		"token_conflict": s.checkTokenConflict(r.Context()),
	}}
	status := http.StatusOK
	for _, c := range rep.Checks {
		if !c.OK {
			rep.Status, status = "not_ready", http.StatusServiceUnavailable
		}
	}
	if status != http.StatusOK {
		s.logger(r.Context()).Warn("not ready", "checks", rep.Checks)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(rep)
}

// checkOutbox reports the queue, and sending paused by WeChat's daily
// quota (45009). It stays ok: the instance still serves and accepts work
// (past WXPUSH_MAX_BACKLOG, from people but not programs), which goes out
// when the quota resets or the queue drains; the reason says why nothing
// moves or what is refused meanwhile. Taking the instance out of a load
// balancer would not make the queue drain faster.
func (s *Server) checkOutbox(ctx context.Context) readyCheck {
	c := readyCheck{OK: true}
	var reasons []string
	if b, err := s.App.Backlog(ctx); err != nil {
		reasons = append(reasons, "backlog unknown: "+err.Error())
	} else {
		ab := s.apiBacklogOf(b)
		c.Backlog = &ab
		if ab.OverCapacity {
			reasons = append(reasons, fmt.Sprintf("backlog of %d deliveries is over WXPUSH_MAX_BACKLOG (%d): API and push-URL sends are refused with 503", b.Depth, ab.MaxBacklog))
		}
	}
	for _, p := range s.App.Paused() {
		c.Paused = append(c.Paused, pauseInfo{Kind: p.Kind, Until: s.rfc3339(p.Until), Reason: p.Reason})
		reasons = append(reasons, fmt.Sprintf("%s paused until %s (%s)", p.Kind, s.rfc3339(p.Until), p.Reason))
	}
	c.Reason = strings.Join(reasons, "; ")
	return c
}

func (s *Server) checkDatabase(ctx context.Context) readyCheck {
	ctx, cancel := context.WithTimeout(ctx, readyDBTimeout)
	defer cancel()
	// SQLite's busy wait (up to 5 s when another process holds the write
	// lock) does not watch the context, so the probe does not wait for it.
	errc := make(chan error, 1)
	go func() { errc <- s.Store.CheckWritable(ctx) }()
	select {
	case err := <-errc:
		if err != nil {
			return readyCheck{Reason: "database not writable: " + err.Error()}
		}
		return readyCheck{OK: true}
	case <-ctx.Done():
		return readyCheck{Reason: fmt.Sprintf("database not writable: no write lock within %v", readyDBTimeout)}
	}
}

func (s *Server) checkWeChat(ctx context.Context) readyCheck {
	if s.Tokens == nil {
		return readyCheck{Reason: "no WeChat token manager configured"}
	}
	st := s.Tokens.Status()
	if st.HasToken {
		return readyCheck{OK: true}
	}
	if st.LastError != "" && (st.ConfigProblem || time.Since(st.LastErrorAt) < readyRefetchAfter) {
		// An administrator must fix it, or WeChat was just asked.
		return readyCheck{Reason: tokenProblem(st)}
	}
	ctx, cancel := context.WithTimeout(ctx, readyTokenTimeout)
	defer cancel()
	if _, err := s.Tokens.Token(ctx); err != nil {
		if st := s.Tokens.Status(); st.LastError != "" {
			return readyCheck{Reason: tokenProblem(st)}
		}
		return readyCheck{Reason: "access token: " + err.Error()}
	}
	return readyCheck{OK: true}
}

func tokenProblem(st wechat.TokenStatus) string {
	if st.LastErrCode != 0 {
		return fmt.Sprintf("access token: %s (errcode %d)", st.LastError, st.LastErrCode)
	}
	return "access token: " + st.LastError
}
