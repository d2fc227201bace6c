package handlers

import (
	"fmt"
	"time"
)

// beijing is the default zone of the times pages show: the users of a
// WeChat official account live in Beijing time. WXPUSH_TZ chooses another
// (Config.Location).
var beijing = time.FixedZone("CST", 8*3600)

// fmtTime is a time as pages show it, with its zone: "2024-05-01 15:04:05
// 北京时间"; "" for the zero time.
func (s *Server) fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(s.Config.Location)
	return t.Format("2006-01-02 15:04:05") + " " + zoneLabel(t)
}

// fmtShort is a time within days of now: "05-01 15:04 北京时间".
func (s *Server) fmtShort(t time.Time) string {
	t = t.In(s.Config.Location)
	return t.Format("01-02 15:04") + " " + zoneLabel(t)
}

// clock is a time of today as pages show it: "15:04:05 北京时间".
func (s *Server) clock(t time.Time) string {
	t = t.In(s.Config.Location)
	return t.Format("15:04:05") + " " + zoneLabel(t)
}

// rfc3339 is a time as the API returns it: RFC 3339 with the configured
// zone's offset, e.g. 2024-05-01T15:04:05+08:00.
func (s *Server) rfc3339(t time.Time) string {
	return t.In(s.Config.Location).Format(time.RFC3339)
}

// zoneLabel names t's zone for people: 北京时间 for China's zone, UTC,
// else the offset at that moment (daylight saving included), "UTC+02:00".
func zoneLabel(t time.Time) string {
	name, off := t.Zone()
	switch loc := t.Location().String(); {
	case off == 8*3600 && (t.Location() == beijing || loc == "Asia/Shanghai" || loc == "Asia/Chongqing" ||
		loc == "Asia/Chungking" || loc == "Asia/Harbin" || loc == "PRC"):
		return "北京时间"
	case off == 0 && (name == "UTC" || loc == "UTC" || loc == "Etc/UTC"):
		return "UTC"
	}
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("UTC%c%02d:%02d", sign, off/3600, off%3600/60)
}
