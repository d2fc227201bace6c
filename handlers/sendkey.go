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
	"github.com/wxpush/wxpush/store"
)

// pushMaxBody bounds a push's request body: room for MaxContentBytes of
// content however it is encoded; the content itself is checked by the
// use case (413 beyond 64 KB).
const pushMaxBody = 4 * service.MaxContentBytes

// pushParams reads a push from the query (GET) or a form or JSON body
// (POST): title, content (or Server酱's desp, which Server酱 renders as
// Markdown), content_type, short or summary, url.
func pushParams(w http.ResponseWriter, r *http.Request) (service.Push, error) {
	var p service.Push
	var desp string
	tooLarge := func(err error) error {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return apiErr(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("请求体超过 %d KB。", pushMaxBody>>10))
		}
		return nil
	}
	if r.Method == http.MethodPost {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct == "application/json" {
			var body struct {
				Title       string `json:"title"`
				Content     string `json:"content"`
				Desp        string `json:"desp"`
				ContentType string `json:"content_type"`
				Summary     string `json:"summary"`
				Short       string `json:"short"`
				URL         string `json:"url"`
			}
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, pushMaxBody))
			if err := dec.Decode(&body); err != nil {
				if e := tooLarge(err); e != nil {
					return p, e
				}
				// The decoder's own words are Go's, in English: logged only.
				return p, &Error{Status: http.StatusBadRequest, Code: "invalid_request",
					Message: "请求体不是有效的 JSON：title、content（或 desp）、content_type、summary（或 short）、url 都应是字符串。", Err: err}
			}
			p = service.Push{Title: body.Title, Content: body.Content, ContentType: body.ContentType, Summary: body.Summary, URL: body.URL}
			if p.Summary == "" {
				p.Summary = body.Short
			}
			desp = body.Desp
		} else {
			r.Body = http.MaxBytesReader(w, r.Body, pushMaxBody)
			if err := r.ParseForm(); err != nil {
				if e := tooLarge(err); e != nil {
					return p, e
				}
				return p, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: "无法读取表单内容。", Err: err}
			}
		}
	}
	if p == (service.Push{}) && desp == "" {
		get := r.FormValue
		p = service.Push{Title: get("title"), Content: get("content"), ContentType: get("content_type"), Summary: get("summary"), URL: get("url")}
		if p.Summary == "" {
			p.Summary = get("short")
		}
		desp = get("desp")
	}
	if p.Content == "" && desp != "" {
		p.Content = desp
		if p.ContentType == "" {
			p.ContentType = store.ContentMarkdown
		}
	}
	return p, nil
}

// sendByKey pushes a notification to the key's owner: the personal push
// URL that scripts, cron jobs and CI call (GET or POST), also in
// Server酱's path form /send/{key}.send. Answers are JSON; errors keep the
// shape {"error": {"code", "message", "fields"}}.
func (s *Server) sendByKey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, err := s.App.SendKeyOwner(ctx, strings.TrimSuffix(r.PathValue("key"), ".send"))
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
	push, err := pushParams(w, r)
	if err != nil {
		return err
	}
	push.Idempotency = idem
	msg, err := s.App.PushToUser(ctx, u, push)
	var se *service.Error
	if errors.As(err, &se) && se.Fields != nil && se.Code != service.ETooLarge {
		status := http.StatusBadRequest
		if _, ok := se.Fields["to"]; ok && len(se.Fields) == 1 {
			status = http.StatusConflict // not bound, and nothing else wrong
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
	data := map[string]any{"id": msg.ID}
	if msg.Page != nil {
		data["url"] = s.App.PageURL(msg.Page.Token)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"code": 0, "message": "ok", "data": data})
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
