package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestRun_MetricsAreOffUnlessConfigured(t *testing.T) {
	base := startApp(t, nil)
	if code, _ := get(t, base+"/metrics", ""); code != http.StatusNotFound {
		t.Fatalf("GET /metrics without configuration: %d, want 404", code)
	}
}

func TestRun_MetricsBehindABearerToken(t *testing.T) {
	const tok = "scrape-token-0123456789abcdef"
	base := startApp(t, map[string]string{"WXPUSH_METRICS_TOKEN": tok})
	if code, _ := get(t, base+"/metrics", ""); code != http.StatusUnauthorized {
		t.Fatalf("without the token: %d, want 401", code)
	}
	code, body := get(t, base+"/metrics", "Bearer "+tok)
	if code != 200 {
		t.Fatalf("with the token: %d", code)
	}
	for _, name := range []string{"wxpush_outbox_queue_depth{kind=\"template\"} 0", "wxpush_outbox_paused{kind=\"text\"} 0",
		"wxpush_webhook_queue_depth 0", "wxpush_token_fetches_total", "go_goroutines"} {
		if !strings.Contains(body, name) {
			t.Errorf("the scrape lacks %s", name)
		}
	}
}

func TestRun_MetricsOnALoopbackListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := startApp(t, map[string]string{"WXPUSH_METRICS_ADDR": addr})
	if code, _ := get(t, base+"/metrics", ""); code != http.StatusNotFound {
		t.Errorf("the main address serves /metrics without a token: %d", code)
	}
	if code, body := get(t, "http://"+addr+"/metrics", ""); code != 200 || !strings.Contains(body, "wxpush_outbox_queue_depth") {
		t.Fatalf("loopback listener: %d\n%.300s", code, body)
	}
}

func TestConfig_RefusesAShortMetricsToken(t *testing.T) {
	c := &config{MetricsToken: "short", OAuthScope: "snsapi_base", BindMode: "auto"}
	if err := c.check(); err == nil || !strings.Contains(err.Error(), "WXPUSH_METRICS_TOKEN") {
		t.Fatalf("check: %v", err)
	}
}
