package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
	"github.com/wxpush/wxpush/wechat"
)

// inWindow reports whether WeChat's customer-service window is open for a
// user (§4): 48 hours after their last message, 1 minute after a follow,
// scan or menu click. (The per-window message counts are not tracked here.)
func inWindow(now, lastMessage, lastEvent time.Time) bool {
	return (!lastMessage.IsZero() && now.Sub(lastMessage) < 48*time.Hour) ||
		(!lastEvent.IsZero() && now.Sub(lastEvent) < time.Minute)
}

func kindLabel(kind string) string {
	if kind == store.KindText {
		return "客服消息"
	}
	return "模板消息"
}

func (s *Server) tokenView() views.TokenView {
	if s.Tokens == nil {
		return views.TokenView{}
	}
	st := s.Tokens.Status()
	v := views.TokenView{OK: st.HasToken && st.ExpiresAt.After(s.Now()), ExpiresAt: fmtTime(st.ExpiresAt)}
	if !v.OK && st.LastError != "" {
		v.Problem, v.Config = st.LastError, st.ConfigProblem
	}
	return v
}

func (s *Server) personRow(p store.Person) views.PersonRow {
	r := views.PersonRow{ID: p.ID, Name: p.Name, IsAdmin: p.IsAdmin, Bound: p.Bound, Nickname: p.Nickname, Following: "未知"}
	if p.Bound {
		r.OpenID, r.BoundAt = wechat.MaskOpenID(p.OpenID), fmtTime(p.BoundAt)
	} else {
		r.Following = "—"
	}
	if p.Following != nil {
		r.Following = map[bool]string{true: "已关注", false: "未关注"}[*p.Following]
	}
	if !p.LastInteraction.IsZero() {
		r.LastInteraction = fmtTime(p.LastInteraction)
	}
	r.InWindow = inWindow(s.Now(), p.LastInteraction, p.LastEvent)
	return r
}

// peoplePage is how many users the dashboard's table shows at once.
const peoplePage = 50

// containsFold reports whether sub is in s, ignoring case.
func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	people, err := s.Store.People(ctx)
	if err != nil {
		return err
	}
	d := views.Dashboard{Token: s.tokenView(), Users: len(people)}
	q := r.URL.Query()
	d.Query = strings.TrimSpace(q.Get("q"))
	if utf8.RuneCountInString(d.Query) > 64 {
		d.Query = string([]rune(d.Query)[:64])
	}
	var matched []store.Person
	now := s.Now()
	for _, p := range people {
		if p.Bound {
			d.Bound++
		}
		if p.Following != nil && *p.Following {
			d.Following++
		}
		if inWindow(now, p.LastInteraction, p.LastEvent) {
			d.InWindow++
		}
		if d.Query == "" || containsFold(p.Name, d.Query) || containsFold(p.Nickname, d.Query) {
			matched = append(matched, p)
		}
	}
	// One page of the table: a site with thousands of users would
	// otherwise get them all in one page.
	d.Matched = len(matched)
	d.Pages = max(1, (len(matched)+peoplePage-1)/peoplePage)
	d.PageNo, _ = strconv.Atoi(q.Get("page"))
	d.PageNo = min(max(d.PageNo, 1), d.Pages) // not a number, 0 or past the end: the nearest page
	for _, p := range matched[(d.PageNo-1)*peoplePage : min(d.PageNo*peoplePage, len(matched))] {
		d.People = append(d.People, s.personRow(p))
	}
	pageURL := func(n int) string {
		v := url.Values{}
		if d.Query != "" {
			v.Set("q", d.Query)
		}
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return "/admin#users"
		}
		return "/admin?" + v.Encode() + "#users"
	}
	if d.PageNo > 1 {
		d.PrevURL = pageURL(d.PageNo - 1)
	}
	if d.PageNo < d.Pages {
		d.NextURL = pageURL(d.PageNo + 1)
	}
	if s.Outbox != nil {
		for _, pz := range s.Outbox.Paused() {
			d.Paused = append(d.Paused, views.PauseView{Kind: pz.Kind, Label: kindLabel(pz.Kind), Until: fmtTime(pz.Until), Reason: pz.Reason})
		}
	}
	if d.Days, err = s.chartDays(ctx); err != nil {
		return err
	}
	entries, err := s.Store.AuditLog(ctx, 20)
	if err != nil {
		return err
	}
	for _, e := range entries {
		d.Audit = append(d.Audit, views.AuditRow{At: fmtTime(e.At), Actor: e.Actor, Action: auditLabel(e.Action), Target: e.Target, Detail: e.Detail})
	}
	switch r.URL.Query().Get("done") {
	case "resumed":
		d.Flash = "已恢复发送。"
	case "refreshed":
		d.Flash = "已从微信刷新关注状态。"
	}
	if e := r.URL.Query().Get("error"); e != "" {
		d.Error = e
	}
	s.render(w, r, http.StatusOK, views.DashboardPage(s.page(r, "管理后台"), d))
	return nil
}

// refreshFollowing asks WeChat which bound users follow the account
// (user/info/batchget, §5).
func (s *Server) refreshFollowing(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	rcpts, err := s.Store.Recipients(ctx, true, nil)
	if err != nil {
		return err
	}
	openids := make([]string, len(rcpts))
	for i, rc := range rcpts {
		openids[i] = rc.OpenID
	}
	var fs []wechat.Follower
	if len(openids) > 0 {
		err = s.Tokens.Do(ctx, func(ctx context.Context, token string) error {
			var err error
			fs, err = s.WeChat.Followers(ctx, token, openids)
			return err
		})
	}
	if err != nil {
		s.logger(ctx).Warn("refresh following", "err", err)
		http.Redirect(w, r, "/admin?error="+url.QueryEscape("刷新关注状态失败："+explainErr(err)), http.StatusSeeOther)
		return nil
	}
	now := s.Now()
	for _, f := range fs {
		if err := s.Store.SetFollowing(ctx, f.OpenID, f.Subscribed, now); err != nil {
			return err
		}
	}
	http.Redirect(w, r, "/admin?done=refreshed", http.StatusSeeOther)
	return nil
}

// explainErr turns a WeChat call's failure into words for an admin.
func explainErr(err error) string {
	var we *wechat.Error
	if errors.As(err, &we) {
		return fmt.Sprintf("%s（errcode %d：%s）", we.Explain(), we.Code, we.Msg)
	}
	return "无法连接微信服务器：" + err.Error()
}

func (s *Server) resumeOutbox(w http.ResponseWriter, r *http.Request) error {
	kind := r.PostFormValue("kind")
	if kind != store.KindText && kind != store.KindTemplate {
		return errorf(http.StatusBadRequest, "参数错误", "kind 只能是 text 或 template。")
	}
	if err := s.Outbox.Resume(r.Context(), kind); err != nil {
		return err
	}
	s.audit(r, "outbox.resume", kindLabel(kind), "")
	http.Redirect(w, r, "/admin?done=resumed", http.StatusSeeOther)
	return nil
}

// syncTemplates replaces the template list with WeChat's
// (get_all_private_template, §4).
func (s *Server) syncTemplates(w http.ResponseWriter, r *http.Request) error {
	n, err := SyncTemplates(r.Context(), s.Store, s.WeChat, s.Tokens)
	if err != nil {
		s.logger(r.Context()).Warn("sync templates", "err", err)
		return s.templatesPage(w, r, "", "同步失败："+explainErr(err))
	}
	s.audit(r, "templates.sync", fmt.Sprintf("%d 个模板", n), "")
	return s.templatesPage(w, r, fmt.Sprintf("已同步 %d 个模板。", n), "")
}

// SyncTemplates fetches the account's templates into the store.
func SyncTemplates(ctx context.Context, st *store.Store, c *wechat.Client, tm *wechat.TokenManager) (int, error) {
	var ts []wechat.Template
	err := tm.Do(ctx, func(ctx context.Context, token string) error {
		var err error
		ts, err = c.Templates(ctx, token)
		return err
	})
	if err != nil {
		return 0, err
	}
	out := make([]store.Template, len(ts))
	for i, t := range ts {
		out[i] = store.Template{ID: t.ID, Title: t.Title, Content: t.Content, Example: t.Example,
			PrimaryIndustry: t.PrimaryIndustry, DeputyIndustry: t.DeputyIndustry}
	}
	return len(out), st.ReplaceTemplates(ctx, out)
}

func (s *Server) templates(w http.ResponseWriter, r *http.Request) error {
	return s.templatesPage(w, r, "", "")
}

func (s *Server) templatesPage(w http.ResponseWriter, r *http.Request, flash, problem string) error {
	ts, err := s.Store.Templates(r.Context())
	if err != nil {
		return err
	}
	rows := make([]views.TemplateRow, len(ts))
	for i, t := range ts {
		rows[i] = views.TemplateRow{ID: t.ID, Title: t.Title, Content: t.Content,
			Keys: wechat.Template{Content: t.Content}.Keys(), Synced: fmtTime(t.SyncedAt)}
	}
	status := http.StatusOK
	if problem != "" {
		status = http.StatusBadGateway
	}
	sk := views.SendKeyForm{}
	m, _, err := s.sendKeyTemplate(r.Context())
	if err == nil {
		sk = views.SendKeyForm{TemplateID: m.TemplateID, TitleKey: m.TitleKey, ContentKey: m.ContentKey}
		_, err := s.Store.Setting(r.Context(), settingSendKeyTemplate)
		sk.Auto = errors.Is(err, store.ErrNotFound)
	}
	s.render(w, r, status, views.TemplatesPage(s.page(r, "模板"), rows, flash, problem, sk))
	return nil
}

// setSendKeyTemplate chooses the template personal push URLs use.
func (s *Server) setSendKeyTemplate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	m := SendKeyTemplate{
		TemplateID: r.PostFormValue("template_id"),
		TitleKey:   strings.TrimSpace(r.PostFormValue("title_key")),
		ContentKey: strings.TrimSpace(r.PostFormValue("content_key")),
	}
	t, err := s.Store.Template(ctx, m.TemplateID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusBadRequest, "参数错误", "模板不存在，请先同步模板。")
	}
	if err != nil {
		return err
	}
	keys := wechat.Template{Content: t.Content}.Keys()
	if !slices.Contains(keys, m.TitleKey) || (m.ContentKey != "" && !slices.Contains(keys, m.ContentKey)) || m.TitleKey == m.ContentKey {
		return errorf(http.StatusBadRequest, "参数错误",
			fmt.Sprintf("标题和内容需填入模板「%s」中两个不同的字段：%s。", t.Title, strings.Join(keys, "、")))
	}
	b, _ := json.Marshal(m)
	if err := s.Store.SetSetting(ctx, settingSendKeyTemplate, b); err != nil {
		return err
	}
	s.audit(r, "sendkey.template", t.Title, fmt.Sprintf("title→%s, content→%s", m.TitleKey, m.ContentKey))
	return s.templatesPage(w, r, "推送链接的模板已保存。", "")
}

// audit records an admin action; a failure to record is logged, not fatal.
func (s *Server) audit(r *http.Request, action, target, detail string) {
	u, _ := userFrom(r.Context())
	if err := s.Store.Audit(r.Context(), store.AuditEntry{ActorID: u.ID, Actor: u.Name, Action: action, Target: target, Detail: detail}); err != nil {
		s.logger(r.Context()).Error("audit", "action", action, "err", err)
	}
}

// composeState reads the compose form (or the query, for a first visit):
// what the preview and the send need. composeLists adds what only the
// whole page shows.
func (s *Server) composeState(ctx context.Context, r *http.Request) (views.Compose, outbox.Request, error) {
	_ = r.ParseForm()
	f := r.Form
	c := views.Compose{
		Kind:       f.Get("kind"),
		All:        f.Get("to") != "users",
		Selected:   map[int64]bool{},
		Text:       f.Get("text"),
		TemplateID: f.Get("template_id"),
		URL:        strings.TrimSpace(f.Get("url")),
		Errors:     map[string]string{},
	}
	if c.TemplateID == "" {
		c.TemplateID = f.Get("template")
	}
	if c.Kind == "" {
		c.Kind = store.KindTemplate
	}
	req := outbox.Request{Kind: c.Kind, Text: c.Text, TemplateID: c.TemplateID, URL: c.URL, All: c.All,
		Data: map[string]string{}, Source: "dashboard"}
	for _, v := range f["user"] {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil {
			c.Selected[id] = true
			req.UserIDs = append(req.UserIDs, id)
		}
	}
	c.Preview = views.Preview{Kind: c.Kind, Text: strings.TrimSpace(c.Text), Empty: true}
	if c.TemplateID != "" {
		t, err := s.Store.Template(ctx, c.TemplateID)
		if err == nil {
			data := map[string]string{}
			for _, l := range views.TemplateLines(t.Content, nil) {
				v := f.Get("data." + l.Key)
				data[l.Key] = v
				req.Data[l.Key] = v
				c.Fields = append(c.Fields, views.FieldInput{Key: l.Key, Label: l.Label, Value: v, Hint: fieldHint(l.Key)})
			}
			c.Preview = views.Preview{Kind: c.Kind, Title: t.Title, Lines: views.TemplateLines(t.Content, data), URL: c.URL, Text: c.Preview.Text}
		} else if !errors.Is(err, store.ErrNotFound) {
			return c, req, err
		}
	}
	return c, req, nil
}

// composeLists fills in the recipients and templates to choose from, and
// who a text message would not reach (outside the 48-hour window, §4).
func (s *Server) composeLists(ctx context.Context, c *views.Compose) error {
	people, err := s.Store.People(ctx)
	if err != nil {
		return err
	}
	for _, p := range people {
		if p.Bound {
			row := s.personRow(p)
			c.Recipients = append(c.Recipients, row)
			if c.Kind == store.KindText && !row.InWindow && (c.All || c.Selected[p.ID]) {
				c.OutsideWindow = append(c.OutsideWindow, p.Name)
			}
		}
	}
	ts, err := s.Store.Templates(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		c.Templates = append(c.Templates, views.TemplateOption{ID: t.ID, Title: t.Title})
	}
	return nil
}

// fieldHint states WeChat's rule for a category-template key (§4).
func fieldHint(key string) string {
	prefix := strings.TrimRight(key, "0123456789")
	return map[string]string{
		"thing":            "最多 20 个字符",
		"phrase":           "最多 5 个汉字，只能是汉字",
		"character_string": "最多 32 位数字、字母或符号，不能有汉字",
		"number":           "最多 32 位数字，可带小数",
		"letter":           "最多 32 个字母",
		"symbol":           "最多 5 个符号",
		"amount":           "货币符号 + 最多 10 位数字，可带小数，可以“元”结尾",
		"time":             "24 小时制时间，如 15:01 或 2019年10月1日 15:01",
		"date":             "日期，如 2019年10月1日，可带时间",
		"phone_number":     "最多 17 位数字或符号，如 +86-0766-66888866",
		"car_number":       "最多 8 个字符，如 粤A8Z888挂",
		"name":             "最多 10 个汉字或 20 个字母",
		"const":            "平台审核过的固定值，最多 20 个字符",
	}[prefix]
}

func (s *Server) composePage(w http.ResponseWriter, r *http.Request) error {
	c, _, err := s.composeState(r.Context(), r)
	if err != nil {
		return err
	}
	if err := s.composeLists(r.Context(), &c); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.ComposePage(s.page(r, "发送消息"), c))
	return nil
}

func (s *Server) composeFields(w http.ResponseWriter, r *http.Request) error {
	c, _, err := s.composeState(r.Context(), r)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.TemplateFields(c.Fields, nil))
	return nil
}

func (s *Server) composePreview(w http.ResponseWriter, r *http.Request) error {
	c, _, err := s.composeState(r.Context(), r)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.PreviewCard(c.Preview))
	return nil
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, req, err := s.composeState(ctx, r)
	if err != nil {
		return err
	}
	u, _ := userFrom(ctx)
	req.CreatedBy = u.ID
	m, err := outbox.Enqueue(ctx, s.Store, req)
	var ie *outbox.InputError
	if errors.As(err, &ie) {
		c.Errors = ie.Fields
		if err := s.composeLists(ctx, &c); err != nil {
			return err
		}
		s.render(w, r, http.StatusUnprocessableEntity, views.ComposePage(s.page(r, "发送消息"), c))
		return nil
	}
	if err != nil {
		return err
	}
	s.logger(ctx).Info("message queued", "message", m.ID, "kind", m.Kind, "recipients", m.Total, "by", u.PublicID)
	to := "全部已绑定用户"
	if !req.All {
		to = fmt.Sprintf("%d 位指定用户", m.Total)
	}
	s.audit(r, "message.send", fmt.Sprintf("消息 #%d", m.ID), fmt.Sprintf("%s → %s（%d 人）：%s", kindLabel(m.Kind), to, m.Total, s.messageRow(m).Summary))
	if s.Outbox != nil {
		s.Outbox.Notify()
	}
	http.Redirect(w, r, "/admin/messages/"+strconv.FormatInt(m.ID, 10), http.StatusSeeOther)
	return nil
}

func progressOf(m store.Message) views.Progress {
	c := m.Counts
	p := views.Progress{MessageID: m.ID, Total: m.Total, Sent: c.Sent, Failed: c.Failed,
		Pending: c.Pending(), Retrying: c.Retrying, Done: c.Pending() == 0}
	if m.Total > 0 {
		p.Percent = c.Final() * 100 / m.Total
	}
	return p
}

func (s *Server) messageRow(m store.Message) views.MessageRow {
	summary := m.Body
	if m.Kind == store.KindTemplate {
		var vals []string
		for _, v := range m.Data {
			vals = append(vals, v)
		}
		summary = m.TemplateID
		if len(vals) > 0 {
			summary = strings.Join(vals, " · ")
		}
	}
	author := m.Author
	if author == "" {
		author = map[string]string{"cli": "命令行", "api": "API", "sendkey": "推送链接"}[m.Source]
	}
	return views.MessageRow{ID: m.ID, When: fmtTime(m.CreatedAt), Kind: kindLabel(m.Kind), Summary: summary,
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
		rows[i] = s.messageRow(m)
	}
	next := ""
	if len(ms) == page {
		next = "/admin/messages?before=" + strconv.FormatInt(ms[len(ms)-1].ID, 10)
	}
	s.render(w, r, http.StatusOK, views.MessagesPage(s.page(r, "发送记录"), rows, next))
	return nil
}

func (s *Server) loadMessage(r *http.Request) (store.Message, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return store.Message{}, errorf(http.StatusNotFound, "消息不存在", "没有这条消息。")
	}
	m, err := s.Store.Message(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return m, errorf(http.StatusNotFound, "消息不存在", "没有这条消息。")
	}
	return m, err
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
			StateLabel: stateLabels[d.State], Attempts: d.Attempts, ErrCode: d.ErrCode, Updated: fmtTime(d.UpdatedAt)}
		if d.MsgID != 0 {
			row.MsgID = strconv.FormatInt(d.MsgID, 10)
		}
		if d.ErrCode != 0 {
			row.Error = fmt.Sprintf("%s（errcode %d：%s）", (&wechat.Error{Code: d.ErrCode}).Explain(), d.ErrCode, d.ErrMsg)
		} else if d.ErrMsg != "" {
			row.Error = d.ErrMsg
		}
		switch d.Receipt {
		case store.ReceiptDelivered:
			row.StateLabel = "已送达"
			row.State = "delivered"
		case store.ReceiptBlocked:
			row.StateLabel, row.State, row.Error = "用户拒收", "blocked", "用户设置了拒收公众号消息（failed:user block）"
		case store.ReceiptSysFailed:
			row.StateLabel, row.State, row.Error = "送达失败", "blocked", "微信系统原因未送达（failed: system failed）"
		}
		if d.State == store.StateRetrying && !d.NextAttemptAt.IsZero() {
			row.Error = strings.TrimSpace(row.Error + " 将于 " + fmtTime(d.NextAttemptAt) + " 重试")
		}
		rows[i] = row
	}
	return rows, hidden, nil
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
	d := views.MessageDetail{Row: s.messageRow(m), Preview: pv, Deliveries: ds, Hidden: hidden}
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
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, views.MessageProgress(progressOf(m), ds, hidden))
	return nil
}

func (s *Server) retryFailed(w http.ResponseWriter, r *http.Request) error {
	m, err := s.loadMessage(r)
	if err != nil {
		return err
	}
	n, err := s.Store.RetryFailed(r.Context(), m.ID, s.Now())
	if err != nil {
		return err
	}
	u, _ := userFrom(r.Context())
	s.logger(r.Context()).Info("retry failed deliveries", "message", m.ID, "count", n, "by", u.PublicID)
	s.audit(r, "message.retry", fmt.Sprintf("消息 #%d", m.ID), fmt.Sprintf("重试 %d 条失败的投递", n))
	if s.Outbox != nil {
		s.Outbox.Notify()
	}
	http.Redirect(w, r, "/admin/messages/"+strconv.FormatInt(m.ID, 10), http.StatusSeeOther)
	return nil
}

var auditLabels = map[string]string{
	"message.send": "发送消息", "message.retry": "重试投递", "outbox.resume": "恢复发送",
	"templates.sync": "同步模板", "sendkey.template": "设置推送模板", "signup.toggle": "注册设置",
	"token.create": "创建 API 令牌", "token.revoke": "吊销 API 令牌",
}

func auditLabel(action string) string {
	if l, ok := auditLabels[action]; ok {
		return l
	}
	return action
}

// chartDays scales the last 14 days' deliveries into bar heights.
func (s *Server) chartDays(ctx context.Context) ([]views.DayBar, error) {
	days, err := s.Store.DeliveriesPerDay(ctx, 14)
	if err != nil {
		return nil, err
	}
	peak := 1
	for _, d := range days {
		peak = max(peak, d.Delivered+d.Sent+d.Failed+d.Pending)
	}
	h := func(n int) int {
		if n == 0 {
			return 0
		}
		return max(1, n*110/peak) // 110 of the chart's 120 px, at least 1 px when non-zero
	}
	out := make([]views.DayBar, len(days))
	for i, d := range days {
		out[i] = views.DayBar{Label: d.Day.Format("01-02"), Delivered: d.Delivered, Sent: d.Sent, Failed: d.Failed, Pending: d.Pending,
			HDelivered: h(d.Delivered), HSent: h(d.Sent), HFailed: h(d.Failed), HPending: h(d.Pending)}
	}
	return out, nil
}
