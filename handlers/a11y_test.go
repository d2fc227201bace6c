package handlers_test

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// node helpers over golang.org/x/net/html.

func parseHTML(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func elements(doc *html.Node, tag string) []*html.Node {
	var out []*html.Node
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			out = append(out, n)
		}
	})
	return out
}

func byID(doc *html.Node, id string) *html.Node {
	var found *html.Node
	walk(doc, func(n *html.Node) {
		if v, ok := attr(n, "id"); ok && v == id && found == nil {
			found = n
		}
	})
	return found
}

func inside(n *html.Node, tag string) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.Data == tag {
			return true
		}
	}
	return false
}

// Every page has one h1; every aria-describedby names elements on the
// page; every form control has a name a screen reader can say (a label
// around it, a label for it, or aria-label); the site's pages carry the
// live region that progress and busy states are announced in.
func TestPages_Accessibility(t *testing.T) {
	_, pages := everyPage(t)
	for name, r := range pages {
		doc := parseHTML(t, r.Body)
		if n := len(elements(doc, "h1")); n != 1 {
			t.Errorf("%s: %d h1 elements, want 1", name, n)
		}
		labelled := map[string]bool{}
		for _, l := range elements(doc, "label") {
			if f, ok := attr(l, "for"); ok {
				labelled[f] = true
			}
		}
		walk(doc, func(n *html.Node) {
			if n.Type != html.ElementNode {
				return
			}
			if ids, ok := attr(n, "aria-describedby"); ok {
				for _, id := range strings.Fields(ids) {
					if byID(doc, id) == nil {
						t.Errorf("%s: <%s aria-describedby=%q>: no element #%s", name, n.Data, ids, id)
					}
				}
			}
			switch n.Data {
			case "input", "select", "textarea":
				typ, _ := attr(n, "type")
				if typ == "hidden" || typ == "submit" {
					return
				}
				id, _ := attr(n, "id")
				_, aria := attr(n, "aria-label")
				if !inside(n, "label") && !labelled[id] && !aria {
					nm, _ := attr(n, "name")
					t.Errorf("%s: <%s name=%q> has no label", name, n.Data, nm)
				}
			}
		})
		if !strings.HasPrefix(name, "sandbox") && name != "phone result" {
			live := byID(doc, "live")
			if v, _ := attr(live, "aria-live"); live == nil || v != "polite" {
				t.Errorf("%s: no #live region", name)
			}
		}
	}
}

// A refused form ties its message to the fields at fault: aria-invalid and
// aria-describedby pointing at the message (and at the field's hint).
func TestForms_ErrorsAreTiedToTheirFields(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")

	field := func(doc *html.Node, name string) *html.Node {
		for _, in := range elements(doc, "input") {
			if v, _ := attr(in, "name"); v == name {
				return in
			}
		}
		t.Fatalf("no input %s", name)
		return nil
	}
	check := func(what string, doc *html.Node, name string, invalid bool, describedBy string) {
		t.Helper()
		in := field(doc, name)
		inv, _ := attr(in, "aria-invalid")
		desc, _ := attr(in, "aria-describedby")
		if (inv == "true") != invalid || desc != describedBy {
			t.Errorf("%s: input %s aria-invalid=%q aria-describedby=%q; want invalid %v, described by %q", what, name, inv, desc, invalid, describedBy)
		}
	}

	// Sign-up, before anything is typed: the hints are tied to their
	// fields; nothing is invalid.
	doc := parseHTML(t, app.browser(t).get("/signup").Body)
	check("sign-up", doc, "name", false, "name-hint")
	check("sign-up", doc, "password", false, "password-hint")
	check("sign-up", doc, "password2", false, "")
	if hint := byID(doc, "password-hint"); hint == nil || !strings.Contains(textOf(hint), "至少 8 个字符") {
		t.Error("the sign-up form does not state the password rule up front")
	}

	// A password too short: that field, and only it, is invalid.
	b := app.browser(t)
	doc = parseHTML(t, b.follow(b.post("/signup", url.Values{"name": {"bob"}, "password": {"short"}, "password2": {"short"}})).Body)
	check("short password", doc, "name", false, "name-hint")
	check("short password", doc, "password", true, "password-hint form-error")
	check("short password", doc, "password2", false, "")
	// Passwords that differ: the confirmation.
	doc = parseHTML(t, b.follow(b.post("/signup", url.Values{"name": {"bob"}, "password": {"password-1"}, "password2": {"password-2"}})).Body)
	check("mismatch", doc, "password2", true, "form-error")
	check("mismatch", doc, "password", false, "password-hint")
	// A taken name.
	doc = parseHTML(t, b.follow(b.post("/signup", url.Values{"name": {"root"}, "password": {"password-1"}, "password2": {"password-1"}})).Body)
	check("taken", doc, "name", true, "name-hint form-error")

	// A refused login: both fields.
	doc = parseHTML(t, b.follow(b.post("/login", url.Values{"name": {"root"}, "password": {"wrong-password"}})).Body)
	check("login", doc, "name", true, "form-error")
	check("login", doc, "password", true, "form-error")

	// An API token without a name.
	doc = parseHTML(t, admin.follow(admin.post("/admin/tokens", url.Values{"name": {" "}})).Body)
	check("token", doc, "name", true, "form-error")
}

// The message page's progress says itself in #live as it moves (in steps
// of 10 %) and when it is done.
func TestMessage_ProgressIsAnnounced(t *testing.T) {
	app := newTestApp(t)
	admin := app.bindUser(t, "root")
	r := admin.post("/admin/compose", url.Values{"kind": {"text"}, "to": {"all"}, "text": {"你好"}})
	page := waitPageDone(t, admin, r.Header.Get("Location"))
	doc := parseHTML(t, page)
	progress := byID(doc, "progress")
	if v, _ := attr(progress, "data-announce"); v != "投递完成：1 条全部成功。" {
		t.Errorf("the finished progress announces %q", v)
	}
}

func textOf(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}
