package handlers

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"

	"github.com/wxpush/wxpush/service"
)

// maxIdempotencyKey bounds the Idempotency-Key header, in bytes.
const maxIdempotencyKey = 255

// idempotency reads the request's Idempotency-Key (nil when there is none)
// and fingerprints the request — method, path, query and body, which it
// buffers so the handler can still read it — so a retry is told from a
// different request that reuses the key. scope is whose key it is.
func idempotency(r *http.Request, scope string) (*service.Idempotency, error) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return nil, nil
	}
	if len(key) > maxIdempotencyKey {
		return nil, apiErr(http.StatusBadRequest, "invalid_idempotency_key",
			fmt.Sprintf("Idempotency-Key 最长 %d 个字符（现在 %d 个）。", maxIdempotencyKey, len(key)))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return nil, apiErr(http.StatusBadRequest, "invalid_idempotency_key",
				"Idempotency-Key 只能包含可见的 ASCII 字符，例如 UUID。")
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, apiMaxBody+1))
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "invalid_request", "无法读取请求体。")
	}
	if len(body) > apiMaxBody {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("请求体超过 %d KB。", apiMaxBody>>10))
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n", r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"))
	h.Write(body)
	return &service.Idempotency{Scope: scope, Key: key, Hash: h.Sum(nil)}, nil
}

// markReplayed tells the client its retry was answered with the first
// request's message.
func markReplayed(w http.ResponseWriter, idem *service.Idempotency) {
	if idem != nil && idem.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
}
