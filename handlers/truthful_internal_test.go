package handlers

import (
	"net/url"
	"testing"
	"time"
)

func TestZoneLabel(t *testing.T) {
	load := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	winter := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)
	summer := time.Date(2024, 7, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		at   time.Time
		loc  *time.Location
		want string
	}{
		{winter, beijing, "北京时间"},
		{winter, load("Asia/Shanghai"), "北京时间"},
		{winter, load("PRC"), "北京时间"},
		{winter, load("Asia/Taipei"), "UTC+08:00"}, // +8, but not Beijing's zone
		{winter, time.UTC, "UTC"},
		{winter, load("Etc/UTC"), "UTC"},
		{winter, load("America/New_York"), "UTC-05:00"},
		{summer, load("America/New_York"), "UTC-04:00"}, // daylight saving time
		{summer, load("Asia/Kolkata"), "UTC+05:30"},
	}
	for _, tt := range tests {
		if got := zoneLabel(tt.at.In(tt.loc)); got != tt.want {
			t.Errorf("%v in %v: %q, want %q", tt.at, tt.loc, got, tt.want)
		}
	}
}

func TestDurationWords(t *testing.T) {
	tests := map[time.Duration]string{
		10 * time.Minute:            "10 分钟",
		90 * time.Second:            "1 分钟 30 秒",
		2 * time.Second:             "2 秒",
		2*time.Hour + 5*time.Minute: "2 小时 5 分钟",
		time.Hour + 2*time.Second:   "1 小时 2 秒",
		1500 * time.Millisecond:     "2 秒",
		0:                           "0 秒",
	}
	for d, want := range tests {
		if got := durationWords(d); got != want {
			t.Errorf("durationWords(%v) = %q, want %q", d, got, want)
		}
	}
}

// Only WeChat's avatar hosts (asked over https) and this site's own images
// are shown; the Content-Security-Policy allows exactly those.
func TestAvatarURL(t *testing.T) {
	base, _ := url.Parse("https://push.example.com")
	s := &Server{Config: Config{BaseURL: base}}
	tests := []struct{ in, want string }{
		{"https://thirdwx.qlogo.cn/mmopen/vi_32/abc/132", "https://thirdwx.qlogo.cn/mmopen/vi_32/abc/132"},
		{"http://wx.qlogo.cn/mmopen/abc/0", "https://wx.qlogo.cn/mmopen/abc/0"},
		{"https://push.example.com/sandbox/avatar/ab12", "https://push.example.com/sandbox/avatar/ab12"},
		{"https://qlogo.cn.evil.example/a.png", ""},
		{"https://evilqlogo.cn/a.png", ""},
		{"javascript:alert(1)", ""},
		{"data:image/svg+xml,<svg/>", ""},
		{"//thirdwx.qlogo.cn/x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := s.avatarURL(tt.in); got != tt.want {
			t.Errorf("avatarURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
