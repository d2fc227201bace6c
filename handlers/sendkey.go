package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/wxpush/wxpush/service"
)

// pushParams reads title, content (alias desp) and url from the query
// (GET) or a form or JSON body (POST).
func pushParams(r *http.Request) (title, content, link string, err error) {
	if r.Method == http.MethodPost {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct == "application/json" {
			var body struct {
				Title   string `json:"title"`
				Content string `json:"content"`
				Desp    string `json:"desp"`
				URL     string `json:"url"`
			}
			dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
			if err := dec.Decode(&body); err != nil {
				// The decoder's own words are Go's, in English: logged only.
				return "", "", "", &Error{Status: http.StatusBadRequest, Code: "invalid_request",
					Message: "请求体不是有效的 JSON：title、content（或 desp）、url 都应是字符串。", Err: err}
			}
			if body.Content == "" {
				body.Content = body.Desp
			}
			return strings.TrimSpace(body.Title), strings.TrimSpace(body.Content), strings.TrimSpace(body.URL), nil
		}
		r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			return "", "", "", &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: "无法读取表单内容。", Err: err}
		}
	}
	get := func(k string) string { return strings.TrimSpace(r.FormValue(k)) }
	content = get("content")
	if content == "" {
		content = get("desp")
	}
	return get("title"), content, get("url"), nil
}

// sendByKey pushes a template message to the key's owner: the personal
// push URL that scripts, cron jobs and CI call (GET or POST). Answers are
// JSON; errors keep the shape {"error": {"code", "message", "fields"}}.
func (s *Server) sendByKey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, err := s.App.SendKeyOwner(ctx, r.PathValue("key"))
	if err != nil {
		return err
	}
	if ok, wait := s.sendKeyLimit.allow(u.ID, s.Now()); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return apiErr(http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("推送太频繁，请 %d 秒后再试。", secs))
	}
	idem, err := idempotency(r, sendKeyScope(r.PathValue("key")))
	if err != nil {
		return err
	}
	title, content, link, err := pushParams(r)
	if err != nil {
		return err
	}
	msg, err := s.App.PushToUser(ctx, u, service.Push{Title: title, Content: content, URL: link, Idempotency: idem})
	var se *service.Error
	if errors.As(err, &se) && se.Fields != nil {
		status := http.StatusBadRequest
		if _, ok := se.Fields["to"]; ok {
			status = http.StatusConflict // not bound
		}
		return &Error{Status: status, Code: "invalid_request", Message: se.Message, Fields: se.Fields}
	}
	if se != nil && se.Reason == "idempotency_key_reused" {
		return &Error{Status: http.StatusUnprocessableEntity, Code: se.Reason, Message: se.Message}
	}
	if err != nil {
		return err
	}
	markReplayed(w, idem)
	writeJSON(w, http.StatusAccepted, map[string]any{"code": 0, "message": "ok", "data": map[string]any{"id": msg.ID}})
	return nil
}

// rotateSendKey makes a new personal send key; the account page shows it
// once (the flash), so a reload neither shows it again nor makes another.
func (s *Server) rotateSendKey(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	key, replaced, err := s.App.RotateSendKey(r.Context(), u)
	if err != nil {
		return err
	}
	msg := "已生成推送链接。"
	if replaced {
		msg = "已重新生成推送链接，旧链接已失效。"
	}
	s.redirectFlash(w, r, "/#sendkey", Flash{Notice: msg, Secret: s.Config.BaseURL.JoinPath("/send", key).String()})
	return nil
}

// sendKeyScope names a push key's Idempotency-Keys by a hash of the key,
// so a rotated key starts afresh and the key itself is stored nowhere.
func sendKeyScope(key string) string {
	h := sha256.Sum256([]byte(key))
	return "sendkey:" + hex.EncodeToString(h[:8])
}
