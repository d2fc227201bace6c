package handlers

import (
	"net/http"
	"strconv"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/views"
)

// myMessages is "my messages": what was pushed to the signed-in user,
// newest first, a page at a time.
func (s *Server) myMessages(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, _ := userFrom(ctx)
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	ms, err := s.App.MyMessages(ctx, u.ID, service.MyMessagesPage, before)
	if err != nil {
		return err
	}
	v := views.MyMessages{First: before <= 0}
	_, err = s.App.Binding(ctx, u.ID)
	switch service.ErrorCode(err) {
	case "":
		v.Bound = true
	case service.ENotFound:
	default:
		return err
	}
	for _, m := range ms {
		v.Messages = append(v.Messages, views.MyMessage{Name: m.Name, When: s.fmtTime(m.At), StateLabel: m.StateLabel,
			StateClass: m.StateClass, URL: m.PageURL})
	}
	if len(ms) == service.MyMessagesPage {
		v.Next = "/messages?before=" + strconv.FormatInt(ms[len(ms)-1].DeliveryID, 10)
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, views.MyMessagesPage(s.page(r, "我的消息"), v))
	return nil
}
