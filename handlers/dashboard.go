package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
	"github.com/wxpush/wxpush/wechat"
)

// The admin dashboard: users and their reach, the WeChat token, paused
// sending, the last 14 days and the audit log.

func (s *Server) tokenView() views.TokenView {
	if s.Tokens == nil {
		return views.TokenView{}
	}
	st := s.Tokens.Status()
	v := views.TokenView{OK: st.HasToken && st.ExpiresAt.After(s.Now()), ExpiresAt: s.fmtTime(st.ExpiresAt)}
	if !v.OK && st.LastError != "" {
		v.Problem, v.Config, v.EgressIP = st.LastError, st.ConfigProblem, st.EgressIP
	}
	return v
}

// personRow is a user in the dashboard's table and the compose form's
// list; w is their customer-service window (service.TextWindows).
func (s *Server) personRow(p store.Person, w service.Window) views.PersonRow {
	r := views.PersonRow{ID: p.ID, PublicID: p.PublicID, Name: p.Name, IsAdmin: p.IsAdmin, Disabled: p.Disabled(),
		Bound: p.Bound, Nickname: p.Nickname, Following: "未知"}
	if p.Bound {
		r.OpenID, r.BoundAt = wechat.MaskOpenID(p.OpenID), s.fmtTime(p.BoundAt)
	} else {
		r.Following = "—"
	}
	if p.Following != nil {
		r.Following = map[bool]string{true: "已关注", false: "未关注"}[*p.Following]
	}
	if !p.LastInteraction.IsZero() {
		r.LastInteraction = s.fmtTime(p.LastInteraction)
	}
	r.InWindow, r.WindowLeft = w.Open, w.Left
	if w.Open {
		r.WindowUntil = s.fmtShort(w.Until)
	}
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
	windows, err := s.App.TextWindows(ctx)
	if err != nil {
		return err
	}
	d := views.Dashboard{Token: s.tokenView(), Users: len(people)}
	if d.Conflict, err = s.conflictView(ctx); err != nil { // alerts.go
		return err
	}
	q := r.URL.Query()
	d.Query = strings.TrimSpace(q.Get("q"))
	if utf8.RuneCountInString(d.Query) > 64 {
		d.Query = string([]rune(d.Query)[:64])
	}
	var matched []store.Person
	for _, p := range people {
		if p.Bound {
			d.Bound++
		}
		if p.Following != nil && *p.Following {
			d.Following++
		}
		if windows[p.ID].Open {
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
		d.People = append(d.People, s.personRow(p, windows[p.ID]))
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
	d.Backlog = s.dashboardBacklog(r.Context())
	for _, pz := range s.App.Paused() {
		d.Paused = append(d.Paused, views.PauseView{Kind: pz.Kind, Label: service.KindLabel(pz.Kind), Until: s.fmtTime(pz.Until), Reason: pz.Reason})
	}
	if d.Days, err = s.chartDays(ctx); err != nil {
		return err
	}
	topics, err := s.App.Topics(ctx)
	if err != nil {
		return err
	}
	d.Topics = topicCounts(topics)
	entries, err := s.Store.AuditLog(ctx, 20)
	if err != nil {
		return err
	}
	for _, e := range entries {
		d.Audit = append(d.Audit, views.AuditRow{At: s.fmtTime(e.At), Actor: e.Actor, Action: auditLabel(e.Action), Target: e.Target, Detail: e.Detail})
	}
	s.render(w, r, http.StatusOK, views.DashboardPage(s.doneNotice(r, "管理后台", dashboardDone), d))
	return nil
}

// refreshFollowing asks WeChat which bound users follow the account.
func (s *Server) refreshFollowing(w http.ResponseWriter, r *http.Request) error {
	n, err := s.App.RefreshFollowing(r.Context())
	if e := service.AsError(err); err != nil && e.Code == service.EUpstream {
		s.redirectFlash(w, r, "/admin#users", Flash{Problem: e.Message})
		return nil
	}
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("已从微信刷新 %d 位已绑定用户的关注状态。", n)
	if n == 0 {
		msg = "还没有已绑定微信的用户，无需刷新。"
	}
	s.redirectFlash(w, r, "/admin#users", Flash{Notice: msg})
	return nil
}

func (s *Server) resumeOutbox(w http.ResponseWriter, r *http.Request) error {
	u, _ := userFrom(r.Context())
	if err := s.App.ResumeOutbox(r.Context(), service.UserActor(u), r.PostFormValue("kind")); err != nil {
		return err
	}
	s.redirectFlash(w, r, "/admin", Flash{Notice: "已恢复发送。"})
	return nil
}

var auditLabels = map[string]string{
	"message.send": "发送消息", "message.retry": "重试投递", "message.resend_unknown": "重发结果未知", "outbox.resume": "恢复发送",
	"templates.sync": "同步模板", "sendkey.template": "设置推送模板", "signup.toggle": "注册设置",
	"token.create": "创建 API 令牌", "token.revoke": "吊销 API 令牌",
	"webhook.create": "添加 Webhook", "webhook.delete": "删除 Webhook", "webhook.rotate": "轮换 Webhook 密钥",
	"wechat.token_conflict": "AppSecret 冲突",
	"webhook.enable":        "启用 Webhook", "webhook.disable": "停用 Webhook", "webhook.test": "发送测试事件",
	"password.change": "修改密码", "password.reset_link": "生成重置密码链接", "password.reset": "通过链接重置密码",
	"user.disable": "停用账号", "user.enable": "启用账号", "user.promote": "设为管理员", "user.demote": "取消管理员",
	"user.delete": "删除账号", "binding.unbind": "解除微信绑定",
	"topic.create": "创建主题", "topic.update": "修改主题", "topic.delete": "删除主题",
	"topic.subscribe": "订阅主题", "topic.unsubscribe": "退订主题",
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

// dashboardDone is what the pages that redirect here with ?done= did.
var dashboardDone = map[string]string{"deleted": "用户已删除。"}
