// Package webhooks delivers wxpush's events to the endpoints admins
// registered: signed JSON POSTs, each endpoint's events in the order they
// were created, retried with exponential backoff for 24 hours.
//
// It is a package of its own rather than part of the outbox: the outbox
// is about WeChat (message kinds, quotas and pauses, the access token, the
// WeChat proxy), while webhooks go to the site's own servers with other
// rules (per-endpoint order, 410 disables, a day of retries).
package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Header names of a webhook request.
const (
	HeaderEvent     = "Wxpush-Event"     // the event type
	HeaderDelivery  = "Wxpush-Delivery"  // the event id: the same on every retry
	HeaderSignature = "Wxpush-Signature" // t=<unix>,v1=<hex>[,v1=<hex>]
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock (README: "Verifying a webhook").
const DefaultTolerance = 5 * time.Minute

// Sign is the v1 signature: hex HMAC-SHA256 keyed with secret over
// "<t>.<body>", t in Unix seconds.
func Sign(secret string, t int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(t, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// SignatureHeader is the Wxpush-Signature value: the timestamp and one v1
// signature per secret (two while a rotated-out secret is in its grace
// period, so receivers holding either key accept the request).
func SignatureHeader(t int64, body []byte, secrets ...string) string {
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(t, 10))
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(Sign(s, t, body))
	}
	return b.String()
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("webhooks: no valid v1 signature in the header")
	ErrBadTimestamp = errors.New("webhooks: the signature's timestamp is missing or outside the tolerance")
)

// Verify checks a Wxpush-Signature header against the raw body with the
// receiver's secret: some v1 must match (compared in constant time) and t
// must be within tolerance of now. It is what a receiver written in Go
// does, and what the tests check every request with.
func Verify(header string, body []byte, secret string, tolerance time.Duration, now time.Time) error {
	var t int64 = -1
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return ErrBadTimestamp
			}
			t = n
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if t < 0 {
		return ErrBadTimestamp
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return ErrBadTimestamp
	}
	want := []byte(Sign(secret, t, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return ErrNoSignature
}
