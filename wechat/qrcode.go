package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Limits of temporary parameterized QR codes (docs/wechat.md §3).
const (
	MaxQRExpire   = 30 * 24 * time.Hour
	MaxSceneBytes = 64
)

// ErrBadQRRequest is wrapped by CreateQRCode's errors about its arguments,
// returned before any call.
var ErrBadQRRequest = errors.New("wechat: invalid QR code request")

// QRCode is a temporary parameterized QR code. Encode URL into the image
// yourself; Ticket also names it in the showqrcode image URL.
type QRCode struct {
	Ticket        string
	ExpireSeconds int
	URL           string
}

// CreateQRCode creates a temporary QR code carrying sceneStr (QR_STR_SCENE,
// docs/wechat.md §3). Scanning it sends a subscribe event with EventKey "qrscene_"+sceneStr
// (new follower) or a SCAN event with EventKey sceneStr (follower): see
// Inbound.Scene. sceneStr must be 1–64 bytes and expire between 1 s and 30
// days (whole seconds, rounded down).
func (c *Client) CreateQRCode(ctx context.Context, accessToken, sceneStr string, expire time.Duration) (QRCode, error) {
	if len(sceneStr) < 1 || len(sceneStr) > MaxSceneBytes {
		return QRCode{}, fmt.Errorf("%w: scene_str is %d bytes, want 1–%d", ErrBadQRRequest, len(sceneStr), MaxSceneBytes)
	}
	secs := int64(expire / time.Second)
	if secs < 1 || expire > MaxQRExpire {
		return QRCode{}, fmt.Errorf("%w: expiry %v is not between 1s and 30 days", ErrBadQRRequest, expire)
	}
	type scene struct {
		SceneStr string `json:"scene_str"`
	}
	type actionInfo struct {
		Scene scene `json:"scene"`
	}
	body := struct {
		ExpireSeconds int64      `json:"expire_seconds"`
		ActionName    string     `json:"action_name"`
		ActionInfo    actionInfo `json:"action_info"`
	}{secs, "QR_STR_SCENE", actionInfo{scene{sceneStr}}}
	var r struct {
		Ticket        string `json:"ticket"`
		ExpireSeconds int    `json:"expire_seconds"`
		URL           string `json:"url"`
	}
	q := url.Values{"access_token": {accessToken}}
	if err := c.postJSON(ctx, "/cgi-bin/qrcode/create", q, body, &r); err != nil {
		return QRCode{}, err
	}
	if r.Ticket == "" || r.URL == "" {
		return QRCode{}, errors.New("wechat: POST /cgi-bin/qrcode/create: answer has no ticket or url")
	}
	return QRCode{Ticket: r.Ticket, ExpireSeconds: r.ExpireSeconds, URL: r.URL}, nil
}
