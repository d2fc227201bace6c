package wechat

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// OAuth scopes (docs/wechat.md §2).
const (
	ScopeBase     = "snsapi_base"     // silent, openid only
	ScopeUserInfo = "snsapi_userinfo" // consent page; allows UserInfo
)

// OAuthToken is a web-authorization token, different from the global one.
type OAuthToken struct {
	AccessToken, RefreshToken, OpenID, Scope, UnionID string
	ExpiresIn                                         int
	// IsSnapshotUser marks a "snapshot" preview: the openid is virtual, do
	// not bind it (docs/wechat.md §2).
	IsSnapshotUser bool
}

// SNSUser is the profile from /sns/userinfo. Since 2021 Sex is 0 and the
// region fields are empty; treat Nickname and HeadImgURL as optional (docs/wechat.md §2).
type SNSUser struct {
	OpenID, Nickname, HeadImgURL, UnionID string
	Sex                                   int
	Privilege                             []string
}

// AuthorizeURL is the link to open in WeChat (or encode as a QR). WeChat
// matches the link by regex: the parameter order and the trailing
// "#wechat_redirect" are required (docs/wechat.md §2).
func (c *Client) AuthorizeURL(redirectURI, scope, state string) string {
	return strings.TrimRight(c.OAuthBase, "/") + "/connect/oauth2/authorize" +
		"?appid=" + url.QueryEscape(c.AppID) +
		"&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&response_type=code" +
		"&scope=" + url.QueryEscape(scope) +
		"&state=" + url.QueryEscape(state) +
		"#wechat_redirect"
}

type oauthTokenResponse struct {
	AccessToken    string `json:"access_token"`
	ExpiresIn      int    `json:"expires_in"`
	RefreshToken   string `json:"refresh_token"`
	OpenID         string `json:"openid"`
	Scope          string `json:"scope"`
	UnionID        string `json:"unionid"`
	IsSnapshotUser int    `json:"is_snapshotuser"`
}

func (r oauthTokenResponse) token(path string) (OAuthToken, error) {
	if r.AccessToken == "" || r.OpenID == "" {
		return OAuthToken{}, fmt.Errorf("wechat: %s: response has no access_token or openid", path)
	}
	return OAuthToken{
		AccessToken:    r.AccessToken,
		RefreshToken:   r.RefreshToken,
		OpenID:         r.OpenID,
		Scope:          r.Scope,
		UnionID:        r.UnionID,
		ExpiresIn:      r.ExpiresIn,
		IsSnapshotUser: r.IsSnapshotUser == 1,
	}, nil
}

// ExchangeCode trades the code from the OAuth redirect for a web token and
// the user's openid. Codes are single use and live 5 minutes (docs/wechat.md §2).
func (c *Client) ExchangeCode(ctx context.Context, code string) (OAuthToken, error) {
	const path = "/sns/oauth2/access_token"
	q := url.Values{
		"appid":      {c.AppID},
		"secret":     {c.AppSecret},
		"code":       {code},
		"grant_type": {"authorization_code"},
	}
	var r oauthTokenResponse
	if err := c.getJSON(ctx, path, q, &r); err != nil {
		return OAuthToken{}, err
	}
	return r.token(path)
}

// RefreshOAuthToken renews a web token with its refresh token (valid 30 days).
func (c *Client) RefreshOAuthToken(ctx context.Context, refreshToken string) (OAuthToken, error) {
	const path = "/sns/oauth2/refresh_token"
	q := url.Values{
		"appid":         {c.AppID},
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
	}
	var r oauthTokenResponse
	if err := c.getJSON(ctx, path, q, &r); err != nil {
		return OAuthToken{}, err
	}
	return r.token(path)
}

// CheckOAuthToken asks whether a web token is still valid for openid
// (GET /sns/auth); nil means valid.
func (c *Client) CheckOAuthToken(ctx context.Context, oauthAccessToken, openid string) error {
	q := url.Values{"access_token": {oauthAccessToken}, "openid": {openid}}
	return c.getJSON(ctx, "/sns/auth", q, nil)
}

// UserInfo fetches the profile of the user who consented with
// snsapi_userinfo; a snsapi_base token answers 48001 (docs/wechat.md §2).
func (c *Client) UserInfo(ctx context.Context, oauthAccessToken, openid string) (SNSUser, error) {
	const path = "/sns/userinfo"
	q := url.Values{"access_token": {oauthAccessToken}, "openid": {openid}, "lang": {"zh_CN"}}
	var r struct {
		OpenID     string   `json:"openid"`
		Nickname   string   `json:"nickname"`
		Sex        int      `json:"sex"`
		HeadImgURL string   `json:"headimgurl"`
		Privilege  []string `json:"privilege"`
		UnionID    string   `json:"unionid"`
	}
	if err := c.getJSON(ctx, path, q, &r); err != nil {
		return SNSUser{}, err
	}
	if r.OpenID == "" {
		return SNSUser{}, fmt.Errorf("wechat: %s: response has no openid", path)
	}
	return SNSUser{
		OpenID:     r.OpenID,
		Nickname:   r.Nickname,
		HeadImgURL: r.HeadImgURL,
		UnionID:    r.UnionID,
		Sex:        r.Sex,
		Privilege:  r.Privilege,
	}, nil
}
