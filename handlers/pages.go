package handlers

import (
	"net/http"

	"github.com/wxpush/wxpush/markdown"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// Message detail pages (/m/{token}): the whole content of a message, for
// WeChat's in-app browser. The token is the key; the page is public.

// readerHeaders are the headers of the pages made for phones that carry a
// key in their URL: never indexed, never sent as a referrer, never cached
// by others, framed only by this site (the sandbox's simulated phone), and
// a content policy under which nothing in the page runs script.
func readerHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' https: http: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'self'")
}

// detailBody renders a message's content for a page.
func detailBody(content, contentType string) views.DetailBody {
	if contentType == store.ContentMarkdown {
		return views.DetailBody{HTML: markdown.HTML(content)}
	}
	return views.DetailBody{Text: content}
}

func (s *Server) messagePage(w http.ResponseWriter, r *http.Request) error {
	readerHeaders(w)
	mp, err := s.App.MessagePage(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	d := views.Detail{
		SiteName: s.App.SiteName(),
		Title:    mp.Title,
		Time:     s.fmtTime(mp.CreatedAt),
		Body:     detailBody(mp.Content, mp.ContentType),
		Sandbox:  s.Config.Sandbox,
		Assets:   s.assets(),
	}
	if d.Title == "" {
		d.Title = "消息"
	}
	for _, t := range mp.Topics {
		d.Topics = append(d.Topics, views.TopicLink{Name: t.Name, URL: "/t/" + t.Slug})
	}
	s.render(w, r, http.StatusOK, views.DetailPage(d))
	return nil
}
