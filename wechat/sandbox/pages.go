package sandbox

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"html"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"
)

// page is what every sandbox page's layout needs.
type page struct {
	Prefix string // PathPrefix, for links
	AppID  string
}

func (s *Sandbox) layout() page { return page{Prefix: s.opts.PathPrefix, AppID: s.opts.AppID} }

type chooseView struct {
	Action   string // the form's URL, authorize query included
	AppID    string
	Scope    string
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
	Users []User
}

// phoneMessage is one item on a phone's message list (filled in by the
// message-sending endpoints).
type phoneMessage struct {
	Time  time.Time
	Kind  string // e.g. 模板消息, 客服消息
	Title string
	Body  string
	URL   string
}

type phoneView struct {
	User     User
	Messages []phoneMessage
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
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// handleHome: GET / explains the sandbox and lists its users.
func (s *Sandbox) handleHome(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, homePage(s.layout(), homeView{Users: s.Users()}))
}

// handleAddUser: POST /users adds a simulated user, then back home.
func (s *Sandbox) handleAddUser(w http.ResponseWriter, r *http.Request) {
	s.AddUser(r.PostFormValue("nickname"))
	http.Redirect(w, r, s.opts.PathPrefix+"/", http.StatusSeeOther)
}

// handlePhones: GET /phone lists the phones (one per simulated user).
func (s *Sandbox) handlePhones(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, phonesPage(s.layout(), s.Users()))
}

// handlePhone: GET /phone/{openid} is one user's phone.
func (s *Sandbox) handlePhone(w http.ResponseWriter, r *http.Request) {
	u, ok := s.User(r.PathValue("openid"))
	if !ok {
		s.render(w, r, http.StatusNotFound, notFoundPage(s.layout(), "没有这个用户"))
		return
	}
	s.render(w, r, http.StatusOK, phonePage(s.layout(), phoneView{User: u}))
}

// handleAvatar: GET /avatar/{openid} draws a simulated user's head image:
// the first character of the nickname on a colour derived from the openid.
func (s *Sandbox) handleAvatar(w http.ResponseWriter, r *http.Request) {
	u, ok := s.User(r.PathValue("openid"))
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
