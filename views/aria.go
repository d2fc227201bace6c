package views

import (
	"fmt"
	"strings"

	"github.com/a-h/templ"
)

// fieldAria ties an input to the hint and the error that describe it
// (aria-describedby) and marks it invalid while the error stands
// (aria-invalid): screen readers read them when the input gets focus.
// Empty ids are left out.
func fieldAria(hintID, errorID string, invalid bool) templ.Attributes {
	a := templ.Attributes{}
	var ids []string
	if hintID != "" {
		ids = append(ids, hintID)
	}
	if invalid && errorID != "" {
		ids = append(ids, errorID)
	}
	if len(ids) > 0 {
		a["aria-describedby"] = strings.Join(ids, " ")
	}
	if invalid {
		a["aria-invalid"] = "true"
	}
	return a
}

// progressAnnouncement is what #live says about a message's progress
// (app.js reads data-announce after each poll and says it when it
// changed): in steps of 10 %, then the outcome.
func progressAnnouncement(pr Progress) string {
	if pr.Done {
		if pr.Failed > 0 {
			return fmt.Sprintf("投递完成：成功 %d 条，失败 %d 条。", pr.Sent, pr.Failed)
		}
		return fmt.Sprintf("投递完成：%d 条全部成功。", pr.Sent)
	}
	return fmt.Sprintf("投递中：已完成 %d%%。", pr.Percent/10*10)
}
