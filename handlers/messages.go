package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
	"github.com/wxpush/wxpush/wechat"
)

// The sent messages: the list, one message's deliveries with live
// progress, and retrying failed deliveries.

func progressOf(m store.Message) views.Progress {
	c := m.Counts
	p := views.Progress{MessageID: m.ID, Total: m.Total, Sent: c.Sent, Failed: c.Failed,
		Pending: c.Pending(), Retrying: c.Retrying, Unknown: c.Unknown, Done: c.Pending() == 0}
	if m.Total > 0 {
		p.Percent = c.Final() * 100 / m.Total
	}
	return p
}

func (s *Server) messageRow(ctx context.Context, m store.Message) views.MessageRow {
	summary := s.App.Summary(ctx, m)
	author := m.Author
	if author == "" {
		author = map[string]string{"cli": "命令行", "api": "API", "sendkey": "推送链接"}[m.Source]
	}
	return views.MessageRow{ID: m.ID, When: s.fmtTime(m.CreatedAt), Kind: service.KindLabel(m.Kind), Summary: summary,
		Author: author, Progress: progressOf(m)}
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) error {
	const page = 50
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	ms, err := s.Store.Messages(r.Context(), page, before)
	if err != nil {
		return err
	}
	rows := make([]views.MessageRow, len(ms))
	for i, m := range ms {
		rows[i] = s.messageRow(r.Context(), m)
	}
	next := ""
	if len(ms) == page {
		next = "/admin/messages?before=" + strconv.FormatInt(ms[len(ms)-1].ID, 10)
	}
	s.render(w, r, http.StatusOK, views.MessagesPage(s.page(r, "发送记录"), rows, next))
	return nil
}

func (s *Server) loadMessage(r *http.Request) (store.Message, error) {
	id, err := service.ParseMessageID(r.PathValue("id"))
	if err != nil {
		return store.Message{}, err
	}
	return s.App.Message(r.Context(), id)
}

// maxListed bounds the deliveries shown on a message page.
const maxListed = 500

var stateLabels = map[string]string{
	store.StateQueued: "排队中", store.StateSending: "发送中", store.StateSent: "已发送",
	store.StateRetrying: "等待重试", store.StateFailed: "失败", store.StateUnknown: "结果未知",
}

func (s *Server) deliveryRows(ctx context.Context, m store.Message) ([]views.DeliveryRow, int, error) {
	ds, err := s.Store.DeliveriesPage(ctx, m.ID, maxListed)
	if err != nil {
		return nil, 0, err
	}
	hidden := max(0, m.Total-len(ds))
	rows := make([]views.DeliveryRow, len(ds))
	for i, d := range ds {
		row := views.DeliveryRow{Name: d.UserName, OpenID: wechat.MaskOpenID(d.OpenID), State: d.State,
			StateLabel: stateLabels[d.State], Attempts: d.Attempts, ErrCode: d.ErrCode, Updated: s.fmtTime(d.UpdatedAt)}
		if d.MsgID != 0 {
			row.MsgID = strconv.FormatInt(d.MsgID, 10)
		}
		row.ViaTemplate = d.Via == store.ViaTemplate
		row.Error, row.Raw, row.RID = deliveryProblem(d.ErrCode, d.ErrMsg)
		switch d.Receipt {
		case store.ReceiptDelivered:
			row.StateLabel = "已送达"
			row.State = "delivered"
		case store.ReceiptBlocked:
			row.StateLabel, row.State, row.Error = "用户拒收", "blocked", "用户设置了拒收公众号消息。"
			row.Raw, row.RID = "TEMPLATESENDJOBFINISH Status: failed:user block", ""
		case store.ReceiptSysFailed:
			row.StateLabel, row.State, row.Error = "送达失败", "blocked", "微信系统原因未送达。"
			row.Raw, row.RID = "TEMPLATESENDJOBFINISH Status: failed: system failed", ""
		}
		if d.State == store.StateRetrying && !d.NextAttemptAt.IsZero() {
			row.Error = strings.TrimSpace(row.Error + " 将于 " + s.fmtTime(d.NextAttemptAt) + " 重试")
		}
		rows[i] = row
	}
	return rows, hidden, nil
}

// splitFailures sorts a finished message's failures: those a retry can
// fix, and texts that failed for a shut customer-service window, which a
// template message to the same users reaches instead.
func (s *Server) splitFailures(ctx context.Context, pr *views.Progress) error {
	if !pr.Done || pr.Failed == 0 {
		return nil
	}
	ds, err := s.Store.Deliveries(ctx, pr.MessageID)
	if err != nil {
		return err
	}
	q := url.Values{"kind": {store.KindTemplate}, "to": {"users"}}
	for _, d := range ds {
		if d.State != store.StateFailed {
			continue
		}
		if service.Retryable(d.ErrCode) {
			pr.Retryable++
		}
		if service.TemplateInstead(d.ErrCode) && d.UserID != 0 {
			pr.TemplateInstead++
			q.Add("user", strconv.FormatInt(d.UserID, 10))
		}
	}
	pr.TemplateURL = "/admin/compose?" + q.Encode()
	return nil
}

func (s *Server) message(w http.ResponseWriter, r *http.Request) error {
	m, err := s.loadMessage(r)
	if err != nil {
		return err
	}
	ds, hidden, err := s.deliveryRows(r.Context(), m)
	if err != nil {
		return err
	}
	pv := views.Preview{Kind: m.Kind, Text: m.Body, URL: m.URL}
	if m.Kind == store.KindTemplate {
		pv.Title = m.TemplateID
		content := ""
		if t, err := s.Store.Template(r.Context(), m.TemplateID); err == nil {
			pv.Title, content = t.Title, t.Content
		}
		pv.Lines = views.TemplateLines(content, m.Data)
	}
	d := views.MessageDetail{Row: s.messageRow(r.Context(), m), Preview: pv, Deliveries: ds, Hidden: hidden}
	d.Row.Progress.Backlog = s.messageBacklog(r.Context(), d.Row.Progress)
	if page, err := s.App.PageOf(r.Context(), m.ID); err == nil {
		d.PageURL = s.App.PageURL(page.Token)
		d.Preview.Page = &views.PagePreview{Title: page.Title, Body: detailBody(page.Content, page.ContentType)}
	} else if service.ErrorCode(err) != service.ENotFound {
		return err
	}
	if err := s.splitFailures(r.Context(), &d.Row.Progress); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.MessagePage(s.page(r, fmt.Sprintf("消息 #%d", m.ID)), d))
	return nil
}

func (s *Server) messageProgress(w http.ResponseWriter, r *http.Request) error {
	m, err := s.loadMessage(r)
	if err != nil {
		return err
	}
	if !isHTMX(r) {
		http.Redirect(w, r, "/admin/messages/"+strconv.FormatInt(m.ID, 10), http.StatusSeeOther)
		return nil
	}
	ds, hidden, err := s.deliveryRows(r.Context(), m)
	if err != nil {
		return err
	}
	pr := progressOf(m)
	pr.Backlog = s.messageBacklog(r.Context(), pr)
	if err := s.splitFailures(r.Context(), &pr); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, views.MessageProgress(pr, ds, hidden))
	return nil
}

func (s *Server) retryFailed(w http.ResponseWriter, r *http.Request) error {
	id, err := service.ParseMessageID(r.PathValue("id"))
	if err != nil {
		return err
	}
	u, _ := userFrom(r.Context())
	n, err := s.App.RetryFailed(r.Context(), service.UserActor(u), id)
	if err != nil {
		return err
	}
	s.redirectFlash(w, r, "/admin/messages/"+strconv.FormatInt(id, 10), Flash{Notice: fmt.Sprintf("已重新排队 %d 条失败的投递。", n)})
	return nil
}

// deliveryProblem words a delivery's failure for the message page: the
// explanation in Chinese, and — for the details toggle — what WeChat said
// in its own words (errmsg, or the transport error) and the request id
// (rid) WeChat's support asks for.
func deliveryProblem(code int, errmsg string) (explain, raw, rid string) {
	switch {
	case code != 0:
		raw, rid = wechat.SplitRID(errmsg)
		return fmt.Sprintf("%s（错误码 %d）", (&wechat.Error{Code: code}).Explain(), code), raw, rid
	case strings.HasPrefix(errmsg, "wechat: "):
		// An HTTP status or transport error on the way to WeChat.
		return "连接微信失败，或微信服务器出错。", errmsg, ""
	}
	return errmsg, "", ""
}

// resendUnknown re-queues the deliveries whose outcome is unknown: the
// admin decided a possible duplicate is better than a possible loss.
func (s *Server) resendUnknown(w http.ResponseWriter, r *http.Request) error {
	id, err := service.ParseMessageID(r.PathValue("id"))
	if err != nil {
		return err
	}
	u, _ := userFrom(r.Context())
	n, err := s.App.ResendUnknown(r.Context(), service.UserActor(u), id)
	if err != nil {
		return err
	}
	s.redirectFlash(w, r, "/admin/messages/"+strconv.FormatInt(id, 10), Flash{Notice: fmt.Sprintf("已重新排队 %d 条结果未知的投递。", n)})
	return nil
}
