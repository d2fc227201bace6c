package wechat

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// Token is a global (base) access token.
type Token struct {
	AccessToken string
	ExpiresIn   int       // seconds, as answered
	ExpiresAt   time.Time // local clock at receipt + ExpiresIn
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

func (r tokenResponse) token(path string) (Token, error) {
	if r.AccessToken == "" {
		return Token{}, fmt.Errorf("wechat: %s: response has no access_token", path)
	}
	return Token{
		AccessToken: r.AccessToken,
		ExpiresIn:   r.ExpiresIn,
		ExpiresAt:   time.Now().Add(time.Duration(r.ExpiresIn) * time.Second),
	}, nil
}

// Token fetches a new access token with GET /cgi-bin/token. Every call mints
// a new token and retires the previous one after 5 minutes (docs/wechat.md §1), so only one
// place may call it; prefer StableToken.
func (c *Client) Token(ctx context.Context) (Token, error) {
	const path = "/cgi-bin/token"
	q := url.Values{
		"grant_type": {"client_credential"},
		"appid":      {c.AppID},
		"secret":     {c.AppSecret},
	}
	var r tokenResponse
	if err := c.getJSON(ctx, path, q, &r); err != nil {
		return Token{}, err
	}
	return r.token(path)
}

// StableToken fetches the stable access token with POST /cgi-bin/stable_token.
// Without force it returns the current token with its remaining lifetime
// (always ≥ 300 s); force issues a new one and is limited to 20 a day, 30 s
// apart (docs/wechat.md §1).
func (c *Client) StableToken(ctx context.Context, force bool) (Token, error) {
	const path = "/cgi-bin/stable_token"
	body := struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}{"client_credential", c.AppID, c.AppSecret, force}
	var r tokenResponse
	if err := c.postJSON(ctx, path, nil, body, &r); err != nil {
		return Token{}, err
	}
	return r.token(path)
}

// APIDomainIP lists WeChat's API server addresses (GET
// /cgi-bin/get_api_domain_ip). It is a cheap way to check that a token works.
func (c *Client) APIDomainIP(ctx context.Context, accessToken string) ([]string, error) {
	var r struct {
		IPList []string `json:"ip_list"`
	}
	q := url.Values{"access_token": {accessToken}}
	if err := c.getJSON(ctx, "/cgi-bin/get_api_domain_ip", q, &r); err != nil {
		return nil, err
	}
	return r.IPList, nil
}
