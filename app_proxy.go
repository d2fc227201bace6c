package main

import (
	"net/http"
	"time"
)

// weChatHTTP is the one HTTP client of every WeChat API call, with enough
// idle connections for every outbox worker (the default keeps only 2 per
// host). Its proxy is WXPUSH_WECHAT_PROXY when set — a fixed egress IP for
// WeChat's IP whitelist (40164) on hosts whose own address changes — else
// the environment's (HTTPS_PROXY, NO_PROXY). Only WeChat calls use it:
// webhooks have their own client (webhooks.NewHTTPClient), so the site's
// own servers are not reached through a proxy meant for WeChat.
//
// In sandbox mode WeChat is this very process, reached over loopback: the
// proxy setting does not apply.
func weChatHTTP(c *config) *http.Client {
	proxy := http.ProxyFromEnvironment
	if c.WeChatProxy != nil && !c.Sandbox {
		proxy = http.ProxyURL(c.WeChatProxy)
	}
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			Proxy: proxy,
			// One pool for every WeChat call, sized to the outbox's ceiling
			// of sends in flight (plus room for token, menu and OAuth
			// calls): a send never waits for a connection below it, and
			// the limiter, not the pool, decides how many are open.
			MaxIdleConns:        c.MaxInFlight + 16,
			MaxIdleConnsPerHost: c.MaxInFlight + 16,
			MaxConnsPerHost:     c.MaxInFlight + 16,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
		},
	}
}
