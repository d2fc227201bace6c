package sandbox

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"html"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"
)

// page is what every sandbox page's layout needs.
type page struct {
	Prefix  string // PathPrefix, for links
	AppID   string
	Console bool // the console (home page): wide panels instead of a phone-sized column
}

func (s *Sandbox) layout() page { return page{Prefix: s.opts.PathPrefix, AppID: s.opts.AppID} }

type chooseView struct {
	Action   string // the form's URL, authorize query included
	AppID    string
	Scope    string // the OAuth scope; "" when scanning a QR code
	Users    []User
	Selected string // openid preselected
	Problem  string
}

type consentView struct {
	Action string
	AppID  string
	User   User
}

type homeView struct {
	Users          []User
	Push           pushView
	Templates      []Template
	Faults         Faults
	Stats          Stats
	TotalDelivered int
	Problem        string
	Notice         string // what the form just posted did
	NoticeFor      string // the panel it concerns: faults, tokens
	Done           string // what the last action did
	Persist        persistView
	// Form values to show again after a problem.
	TemplateTitle, TemplateContent string
}

// resetView is the page that confirms 重置沙箱.
type resetView struct {
	Persistent bool
	SeedUsers  []string // the users a reset sandbox has
	Problem    string
}

// pushView is the home page's server URL section.
type pushView struct {
	ServerURL, Mode, AccountID string
	Pushes                     []Push // newest first
}

// accountView is the profile page a non-follower sees after scanning.
type accountView struct {
	Action    string
	AccountID string
	User      User
	Scene     string
}

type phoneView struct {
	User     User
	Messages []Message
	// The customer-service windows open now: messages left, until when.
	WindowLeft  int
	WindowUntil time.Time
	Problem     string
}

// render writes a page; rendering into a buffer first lets a failure still
// answer 500 instead of half a page.
func (s *Sandbox) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The phone's browser frame shows the authorization page (webview.go).
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// handleHome: GET / explains the sandbox and lists its users, templates
// and fault settings.
func (s *Sandbox) handleHome(w http.ResponseWriter, r *http.Request) {
	v := homeView{}
	switch r.URL.Query().Get("done") {
	case "faults":
		v.Notice, v.NoticeFor = "故障注入已保存："+faultsSummary(s.Faults()), "faults"
	case "tokens":
		v.Notice, v.NoticeFor = "已使所有 access_token 失效：下次调用返回 40001。", "tokens"
	case "quota":
		v.Notice, v.NoticeFor = "已清空今日调用次数。", "tokens"
	case "reset":
		v.Done = "沙箱已重置为初始状态。"
	}
	s.renderHome(w, r, http.StatusOK, v)
}

// faultsSummary says in words which faults are on.
func faultsSummary(f Faults) string {
	var on []string
	if f.Latency > 0 {
		on = append(on, "每次调用延迟 "+fmtLatency(f.Latency)+" 毫秒")
	}
	if f.ErrorRate > 0 {
		on = append(on, fmtPct(f.ErrorRate)+"% 返回 -1")
	}
	if f.HTTP500Rate > 0 {
		on = append(on, fmtPct(f.HTTP500Rate)+"% 返回 HTTP 500")
	}
	if f.PerSecondLimit > 0 {
		on = append(on, "每秒最多 "+fmtCount(f.PerSecondLimit)+" 次（超出 45011）")
	}
	if f.DailyQuota > 0 {
		on = append(on, "每日最多 "+fmtCount(f.DailyQuota)+" 次（超出 45009）")
	}
	if f.RivalRefreshEvery > 0 {
		on = append(on, "每 "+fmtMinutes(f.RivalRefreshEvery)+" 分钟被另一个系统强制刷新 access_token")
	}
	if f.IPWhitelist != "" {
		on = append(on, "IP 白名单 "+f.IPWhitelist)
	}
	if f.ReceiptFirst {
		on = append(on, "送达回执先到")
	}
	if len(on) == 0 {
		return "不注入任何故障。"
	}
	return strings.Join(on, "；") + "。"
}

func (s *Sandbox) renderHome(w http.ResponseWriter, r *http.Request, status int, v homeView) {
	v.Users, v.Templates, v.Faults, v.Stats, v.TotalDelivered = s.Users(), s.Templates(), s.Faults(), s.Stats(), s.TotalDelivered()
	v.Push = pushView{ServerURL: s.opts.ServerURL, Mode: s.opts.EncryptMode, AccountID: s.accountID}
	v.Persist = s.persistState()
	all := s.Pushes()
	for i := len(all) - 1; i >= 0 && len(v.Push.Pushes) < homePushes; i-- {
		v.Push.Pushes = append(v.Push.Pushes, all[i])
	}
	p := s.layout()
	p.Console = true
	s.render(w, r, status, homePage(p, v))
}

func (s *Sandbox) backHome(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, s.opts.PathPrefix+"/", http.StatusSeeOther)
}

// doneHome sends the browser back to the home page, which says what the
// form did (done) beside the form (anchor).
func (s *Sandbox) doneHome(w http.ResponseWriter, r *http.Request, done, anchor string) {
	http.Redirect(w, r, s.opts.PathPrefix+"/?done="+done+"#"+anchor, http.StatusSeeOther)
}

// handleAddTemplate: POST /templates adds a template (the test account
// lets you write any content, docs/wechat.md §4).
func (s *Sandbox) handleAddTemplate(w http.ResponseWriter, r *http.Request) {
	title, content := r.PostFormValue("title"), r.PostFormValue("content")
	if _, err := s.AddTemplate(title, content); err != nil {
		s.renderHome(w, r, http.StatusBadRequest, homeView{Problem: err.Error(), TemplateTitle: title, TemplateContent: content})
		return
	}
	s.backHome(w, r)
}

// handleSetFaults: POST /faults sets the fault injection from the form:
// latency in milliseconds, rates in percent, limits as counts (empty = 0),
// receipt_first a checkbox (on, or absent for off).
func (s *Sandbox) handleSetFaults(w http.ResponseWriter, r *http.Request) {
	num := func(name string, max float64) (float64, bool) {
		v := strings.TrimSpace(r.PostFormValue(name))
		if v == "" {
			return 0, true
		}
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil && f >= 0 && f <= max && !math.IsNaN(f)
	}
	lat, ok1 := num("latency_ms", 60_000)
	errPct, ok2 := num("error_pct", 100)
	p500, ok3 := num("http500_pct", 100)
	perSec, ok4 := num("per_second", 1e9)
	daily, ok5 := num("daily_quota", 1e9)
	first := r.PostFormValue("receipt_first")
	ok8 := first == "" || first == "on"
	rival, ok6 := num("rival_minutes", 1e6)
	whitelist, ok7 := parseWhitelist(r.PostFormValue("ip_whitelist"))
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 || !ok8 {
		s.renderHome(w, r, http.StatusBadRequest, homeView{Problem: "故障注入参数无效：延迟 0–60000 毫秒，比例 0–100%，限额和分钟数为非负数，IP 白名单为逗号分隔的 IP 地址，回执先到为勾选项"})
		return
	}
	s.SetFaults(Faults{
		Latency:           time.Duration(lat * float64(time.Millisecond)),
		ErrorRate:         errPct / 100,
		HTTP500Rate:       p500 / 100,
		PerSecondLimit:    int(perSec),
		DailyQuota:        int(daily),
		ReceiptFirst:      first == "on",
		RivalRefreshEvery: time.Duration(rival * float64(time.Minute)),
		IPWhitelist:       strings.Join(whitelist, ", "),
	})
	s.doneHome(w, r, "faults", "faults")
}

// handleInvalidateTokens: POST /tokens/invalidate (使令牌失效).
func (s *Sandbox) handleInvalidateTokens(w http.ResponseWriter, r *http.Request) {
	s.InvalidateTokens()
	s.doneHome(w, r, "tokens", "tokens")
}

// handleResetQuota: POST /quota/reset, like clear_quota.
func (s *Sandbox) handleResetQuota(w http.ResponseWriter, r *http.Request) {
	s.ResetQuota()
	s.doneHome(w, r, "quota", "tokens")
}

// handleResetPage: GET /reset says what 重置沙箱 clears and asks to
// confirm with a form.
func (s *Sandbox) handleResetPage(w http.ResponseWriter, r *http.Request) {
	s.renderReset(w, r, http.StatusOK, "")
}

func (s *Sandbox) renderReset(w http.ResponseWriter, r *http.Request, status int, problem string) {
	v := resetView{Persistent: s.opts.Persistence != nil, SeedUsers: s.opts.Users, Problem: problem}
	s.render(w, r, status, resetPage(s.layout(), v))
}

// handleReset: POST /reset resets the sandbox (Reset). Only the
// confirmation page's form, which sends confirm=yes, does; anything else
// gets that page.
func (s *Sandbox) handleReset(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("confirm") != "yes" {
		s.renderReset(w, r, http.StatusBadRequest, "请在本页点击「确认重置」来重置沙箱。")
		return
	}
	if err := s.Reset(r.Context()); err != nil {
		s.renderReset(w, r, http.StatusInternalServerError, "沙箱已重置，但保存到数据库失败（稍后自动重试）："+err.Error())
		return
	}
	http.Redirect(w, r, s.opts.PathPrefix+"/?done=reset", http.StatusSeeOther)
}

// handleAddUser: POST /users adds a simulated user, then back home.
func (s *Sandbox) handleAddUser(w http.ResponseWriter, r *http.Request) {
	s.AddUser(r.PostFormValue("nickname"))
	s.backHome(w, r)
}

// handlePhones: GET /phone lists the phones (one per simulated user).
func (s *Sandbox) handlePhones(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, phonesPage(s.layout(), s.Users()))
}

// handlePhone: GET /phone/{openid} is one user's phone: the conversation
// with the account, follow state and a box to message the account.
func (s *Sandbox) handlePhone(w http.ResponseWriter, r *http.Request) {
	s.renderPhone(w, r, http.StatusOK, "")
}

func (s *Sandbox) renderPhone(w http.ResponseWriter, r *http.Request, status int, problem string) {
	s.mu.Lock()
	m, ok := s.users[r.PathValue("openid")]
	var v phoneView
	if ok {
		v = phoneView{User: m.User, Messages: m.lastMessages(), Problem: problem}
		v.WindowLeft, v.WindowUntil = m.windowSummary(s.opts.Now())
	}
	s.mu.Unlock()
	if !ok {
		s.render(w, r, http.StatusNotFound, notFoundPage(s.layout(), "没有这个用户"))
		return
	}
	s.render(w, r, status, phonePage(s.layout(), v))
}

// handleFollow and handleUnfollow: POST /phone/{openid}/follow and
// /unfollow, the phone's 关注公众号 and 取消关注 buttons.
func (s *Sandbox) handleFollow(w http.ResponseWriter, r *http.Request)   { s.followForm(w, r, true) }
func (s *Sandbox) handleUnfollow(w http.ResponseWriter, r *http.Request) { s.followForm(w, r, false) }

// Following waits for the app's answer to the subscribe push (up to
// PushTimeout), so that the phone shows its welcome reply at once.
func (s *Sandbox) followForm(w http.ResponseWriter, r *http.Request, follow bool) {
	first, err := s.setFollowing(r.PathValue("openid"), follow)
	if err != nil {
		s.render(w, r, http.StatusNotFound, notFoundPage(s.layout(), "没有这个用户"))
		return
	}
	if follow {
		s.waitFirst(r, first)
	}
	s.backToPhone(w, r)
}

// handleBlock: POST /phone/{openid}/block, the phone's 拒收消息 switch:
// blocked=1 refuses the account's messages, blocked=0 receives them again.
func (s *Sandbox) handleBlock(w http.ResponseWriter, r *http.Request) {
	if err := s.SetBlocked(r.PathValue("openid"), r.PostFormValue("blocked") == "1"); err != nil {
		s.render(w, r, http.StatusNotFound, notFoundPage(s.layout(), "没有这个用户"))
		return
	}
	s.backToPhone(w, r)
}

func (s *Sandbox) backToPhone(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, s.opts.PathPrefix+"/phone/"+url.PathEscape(r.PathValue("openid")), http.StatusSeeOther)
}

// handleSay: POST /phone/{openid}/say, the user messaging the account;
// it waits for the app's passive reply like handleFollow.
func (s *Sandbox) handleSay(w http.ResponseWriter, r *http.Request) {
	first, err := s.sayText(r.PathValue("openid"), r.PostFormValue("text"))
	switch {
	case errors.Is(err, ErrNoUser):
		s.render(w, r, http.StatusNotFound, notFoundPage(s.layout(), "没有这个用户"))
	case errors.Is(err, ErrNotFollowing):
		s.renderPhone(w, r, http.StatusConflict, "关注公众号后才能发消息")
	case err != nil:
		s.renderPhone(w, r, http.StatusBadRequest, "消息不能为空")
	default:
		s.waitFirst(r, first)
		s.backToPhone(w, r)
	}
}

// handleScan: GET /q/{id} is the phone scanning a parameterized QR code:
// WeChat's 二维码已过期 page, or the chooser of who holds the phone.
func (s *Sandbox) handleScan(w http.ResponseWriter, r *http.Request) {
	if !s.checkQR(w, r) {
		return
	}
	s.renderScanChooser(w, r, s.rememberedUser(r), "", http.StatusOK)
}

// checkQR renders the error page for an unknown or expired code.
func (s *Sandbox) checkQR(w http.ResponseWriter, r *http.Request) bool {
	switch _, ok, expired := s.qrByID(r.PathValue("id")); {
	case !ok:
		s.render(w, r, http.StatusNotFound, qrErrorPage(s.layout(), false))
		return false
	case expired:
		s.render(w, r, http.StatusGone, qrErrorPage(s.layout(), true))
		return false
	}
	return true
}

func (s *Sandbox) scanAction(r *http.Request) string {
	return s.opts.PathPrefix + "/q/" + url.PathEscape(r.PathValue("id"))
}

func (s *Sandbox) renderScanChooser(w http.ResponseWriter, r *http.Request, selected, problem string, status int) {
	users := s.Users()
	if selected == "" && len(users) > 0 {
		selected = users[0].OpenID
	}
	v := chooseView{Action: s.scanAction(r), AppID: s.opts.AppID, Users: users, Selected: selected, Problem: problem}
	s.render(w, r, status, choosePage(s.layout(), v))
}

// handleScanPost: POST /q/{id}. step=choose: the user holding the phone
// (a new one has never followed the account); a follower's scan is pushed
// as SCAN, a non-follower sees the account's profile. step=follow: the
// profile's 关注公众号, pushed as subscribe with qrscene_. Both then open
// the user's chat, once the app answered the push.
func (s *Sandbox) handleScanPost(w http.ResponseWriter, r *http.Request) {
	if !s.checkQR(w, r) {
		return
	}
	id := r.PathValue("id")
	var u User
	step := r.PostFormValue("step")
	switch found, ok := s.User(r.PostFormValue("openid")); {
	case step == "choose" && strings.TrimSpace(r.PostFormValue("nickname")) != "":
		u = s.addUser(r.PostFormValue("nickname"), false)
	case ok:
		u = found
	default:
		s.renderScanChooser(w, r, "", "请选择一个用户，或输入昵称新建用户", http.StatusBadRequest)
		return
	}
	s.rememberUser(w, u.OpenID)
	first, err := s.scan(u.OpenID, id, step == "follow")
	switch {
	case errors.Is(err, ErrNotFollowing):
		c, _, _ := s.qrByID(id)
		v := accountView{Action: s.scanAction(r), AccountID: s.accountID, User: u, Scene: c.scene}
		s.render(w, r, http.StatusOK, qrFollowPage(s.layout(), v))
		return
	case errors.Is(err, ErrQRExpired):
		s.render(w, r, http.StatusGone, qrErrorPage(s.layout(), true))
		return
	case err != nil:
		s.render(w, r, http.StatusNotFound, qrErrorPage(s.layout(), false))
		return
	}
	s.waitFirst(r, first)
	http.Redirect(w, r, s.opts.PathPrefix+"/phone/"+url.PathEscape(u.OpenID), http.StatusSeeOther)
}

// handleAvatar: GET /avatar/{openid} draws a simulated user's head image:
// the first character of the nickname on a colour derived from the openid.
func (s *Sandbox) handleAvatar(w http.ResponseWriter, r *http.Request) {
	u, ok := s.userByAvatar(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256([]byte(u.OpenID))
	hue := int(sum[0]) * 360 / 256
	first, _ := utf8.DecodeRuneInString(u.Nickname)
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="132" height="132" viewBox="0 0 132 132">`+
		`<rect width="132" height="132" rx="12" fill="hsl(%d,55%%,52%%)"/>`+
		`<text x="66" y="66" dy=".35em" text-anchor="middle" font-size="64" fill="#fff" font-family="sans-serif">%s</text></svg>`,
		hue, html.EscapeString(string(first)))
}

func scopeLabel(scope string) string {
	if scope == "snsapi_userinfo" {
		return "snsapi_userinfo（需用户同意，可获取昵称和头像）"
	}
	return "snsapi_base（静默授权，仅获取 openid）"
}

func fmtTime(t time.Time) string { return t.In(beijing).Format("01-02 15:04") }

// fmtDate is a template card's date line, as WeChat shows it.
func fmtDate(t time.Time) string { return t.In(beijing).Format("1月2日") }

func msgID(m Message) string { return strconv.FormatInt(m.MsgID, 10) }

const homePushes = 50 // pushes listed on the home page

func fmtClock(t time.Time) string { return t.In(beijing).Format("01-02 15:04:05") }

func modeLabel(mode string) string {
	switch mode {
	case ModeSafe:
		return "安全模式（加密）"
	case ModeCompat:
		return "兼容模式（明文与密文）"
	}
	return "明文模式"
}

// pushResult summarises a push for the home page's log.
func pushResult(p Push) string {
	switch {
	case p.Err != "":
		return p.Err + "（" + p.Detail + "）"
	case p.Reply != "":
		return "被动回复：" + p.Reply
	}
	return "成功"
}

// msgClass is a conversation item's CSS class.
func msgClass(m Message) string {
	switch {
	case m.Kind == KindNotice:
		return "msg msg-notice"
	case m.Kind == KindTemplate:
		return "msg msg-template"
	case m.Kind == KindNews:
		return "msg msg-news"
	case m.FromUser:
		return "msg msg-text msg-mine"
	}
	return "msg msg-text"
}

func fmtLatency(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64)
}

func fmtPct(rate float64) string {
	if rate == 0 {
		return ""
	}
	return strconv.FormatFloat(rate*100, 'f', -1, 64)
}

func fmtCount(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// errorSummary lists the error codes answered, "40001×2, 45015×1".
func errorSummary(errs map[int]int) string {
	codes := make([]int, 0, len(errs))
	for c := range errs {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d×%d", c, errs[c])
	}
	if len(parts) == 0 {
		return "无"
	}
	return strings.Join(parts, "，")
}
