package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
)

// dataFlags collects repeated -data key=value flags.
type dataFlags map[string]string

func (d dataFlags) String() string { return fmt.Sprint(map[string]string(d)) }
func (d dataFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	d[strings.TrimSpace(k)] = val
	return nil
}

// runSend queues a message through the same outbox the dashboard uses. The
// running server delivers it (it polls the queue); -wait follows progress.
func runSend(ctx context.Context, args []string, env func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stdout)
	to := fs.String("to", "", "recipients: user names, comma-separated")
	all := fs.Bool("all", false, "send to every bound user")
	topics := fs.String("topic", "", "topics: slugs, comma-separated (their subscribers; with -to, each user once)")
	text := fs.String("text", "", "customer-service text message")
	title := fs.String("title", "", "a notification's title (with -content: sent as the notification template, linking its detail page)")
	content := fs.String("content", "", "a notification's whole content")
	contentType := fs.String("content-type", "text", "how -content is shown: text or markdown")
	summary := fs.String("summary", "", "a notification's summary for the card (default: the start of -content)")
	baseURL := fs.String("base-url", env("WXPUSH_BASE_URL"), "public URL of the site, for links to detail pages (default http://WXPUSH_ADDR)")
	tmpl := fs.String("template", "", "template id (a template message)")
	link := fs.String("url", "", "template message link (optional)")
	noFallback := fs.Bool("no-fallback", false, "keep -text a text for users outside WeChat's 48-hour window (else they get the notification template)")
	wait := fs.Bool("wait", false, "wait until every delivery is final and print the outcome")
	db := fs.String("db", defaultString(env("WXPUSH_DB"), "./wxpush.db"), "SQLite database file")
	data := dataFlags{}
	fs.Var(data, "data", "template field key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	req := service.SendRequest{All: *all, Text: *text, TemplateID: *tmpl, Data: data, URL: *link, NoFallback: *noFallback}
	shapes := 0
	for _, set := range []bool{*text != "", *tmpl != "", *title != "" || *content != ""} {
		if set {
			shapes++
		}
	}
	switch {
	case shapes > 1:
		return errors.New("give one of -title/-content, -text and -template")
	case *title != "" || *content != "":
		req.Kind, req.Title, req.Content, req.ContentType, req.Summary = service.KindNotification, *title, *content, *contentType, *summary
	case *text != "":
		req.Kind = store.KindText
	case *tmpl != "":
		req.Kind = store.KindTemplate
	default:
		return errors.New("usage: wxpush send (-to NAME[,NAME] [-topic SLUG[,SLUG]] | -topic SLUG[,SLUG] | -all) (-title TITLE [-content TEXT] [-content-type markdown] [-summary S] | -text TEXT | -template ID -data key=value ...) [-url URL] [-wait]")
	}
	if *all == (*to != "" || *topics != "") {
		return errors.New("give -all, or -to NAME[,NAME] and/or -topic SLUG[,SLUG]")
	}
	for _, n := range strings.Split(*to, ",") {
		if n = strings.TrimSpace(n); n != "" {
			req.UserNames = append(req.UserNames, n)
		}
	}
	for _, slug := range strings.Split(*topics, ",") {
		if slug = strings.TrimSpace(slug); slug != "" {
			req.Topics = append(req.Topics, slug)
		}
	}
	st, err := store.Open(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	if *baseURL == "" {
		*baseURL = "http://" + defaultString(env("WXPUSH_ADDR"), "127.0.0.1:8080")
	}
	base, err := url.Parse(strings.TrimRight(*baseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("-base-url %q: want http(s)://host", *baseURL)
	}
	m, err := service.New(service.Deps{Store: st}, service.Config{BaseURL: base}).Send(ctx, service.CLIActor, req)
	if e := service.AsError(err); err != nil && e.Fields != nil {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("message not sent:")
		for _, k := range keys {
			fmt.Fprintf(&b, "\n  %s: %s", k, e.Fields[k])
		}
		return errors.New(b.String())
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "queued message %d to %d recipient(s); the running wxpush server delivers it\n", m.ID, m.Total)
	if m.Page != nil {
		fmt.Fprintf(stdout, "detail page: %s/m/%s\n", base, m.Page.Token)
	}
	if !*wait {
		return nil
	}
	for {
		m, err = st.Message(ctx, m.ID)
		if err != nil {
			return err
		}
		if m.Counts.Pending() == 0 {
			c := m.Counts
			fmt.Fprintf(stdout, "message %d: %d sent, %d failed, %d unknown\n", m.ID, c.Sent, c.Failed, c.Unknown)
			switch {
			case c.Failed > 0 && c.Unknown > 0:
				return fmt.Errorf("%d deliveries failed and %d may or may not have arrived (结果未知); see the dashboard", c.Failed, c.Unknown)
			case c.Failed > 0:
				return fmt.Errorf("%d deliveries failed; see the dashboard for reasons", c.Failed)
			case c.Unknown > 0:
				return fmt.Errorf("%d deliveries may or may not have arrived (结果未知: no answer from WeChat); the dashboard can resend them", c.Unknown)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
