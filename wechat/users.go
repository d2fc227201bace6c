package wechat

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// Follower is what /cgi-bin/user/info says of an openid. Since 2021 there is
// no nickname or avatar; for a non-follower only OpenID (and perhaps
// UnionID) is set (docs/wechat.md §5, docs/wechat-details.md §4.4).
type Follower struct {
	OpenID         string
	Subscribed     bool
	SubscribeTime  time.Time // last follow; zero if unknown
	SubscribeScene string    // ADD_SCENE_QR_CODE, ADD_SCENE_SEARCH, …
	UnionID        string
	Remark         string
}

type followerJSON struct {
	Subscribe      int    `json:"subscribe"`
	OpenID         string `json:"openid"`
	SubscribeTime  int64  `json:"subscribe_time"`
	SubscribeScene string `json:"subscribe_scene"`
	UnionID        string `json:"unionid"`
	Remark         string `json:"remark"`
}

func (f followerJSON) follower() Follower {
	var t time.Time
	if f.SubscribeTime > 0 {
		t = time.Unix(f.SubscribeTime, 0).UTC()
	}
	return Follower{
		OpenID:         f.OpenID,
		Subscribed:     f.Subscribe == 1,
		SubscribeTime:  t,
		SubscribeScene: f.SubscribeScene,
		UnionID:        f.UnionID,
		Remark:         f.Remark,
	}
}

// Follower fetches one user's follow status (GET /cgi-bin/user/info, docs/wechat.md §5).
func (c *Client) Follower(ctx context.Context, accessToken, openid string) (Follower, error) {
	const path = "/cgi-bin/user/info"
	var r followerJSON
	q := url.Values{"access_token": {accessToken}, "openid": {openid}, "lang": {"zh_CN"}}
	if err := c.getJSON(ctx, path, q, &r); err != nil {
		return Follower{}, err
	}
	if r.OpenID == "" {
		return Follower{}, fmt.Errorf("wechat: %s: response has no openid", path)
	}
	return r.follower(), nil
}

// batchSize is the most openids /cgi-bin/user/info/batchget takes (docs/wechat.md §5).
const batchSize = 100

// Followers fetches many users' follow status with
// POST /cgi-bin/user/info/batchget, 100 per call (docs/wechat.md §5). The result is in the
// order of openids, one entry per openid; if one call fails the error is
// returned and the results are dropped.
func (c *Client) Followers(ctx context.Context, accessToken string, openids []string) ([]Follower, error) {
	const path = "/cgi-bin/user/info/batchget"
	type userReq struct {
		OpenID string `json:"openid"`
		Lang   string `json:"lang"`
	}
	out := make([]Follower, 0, len(openids))
	q := url.Values{"access_token": {accessToken}}
	for start := 0; start < len(openids); start += batchSize {
		batch := openids[start:min(start+batchSize, len(openids))]
		body := struct {
			UserList []userReq `json:"user_list"`
		}{make([]userReq, len(batch))}
		for i, id := range batch {
			body.UserList[i] = userReq{id, "zh_CN"}
		}
		var r struct {
			List []followerJSON `json:"user_info_list"`
		}
		if err := c.postJSON(ctx, path, q, body, &r); err != nil {
			return nil, err
		}
		// Match by openid rather than trust the answer's order.
		byID := make(map[string]Follower, len(r.List))
		for _, f := range r.List {
			byID[f.OpenID] = f.follower()
		}
		for _, id := range batch {
			f, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("wechat: %s: response lacks openid %s", path, MaskOpenID(id))
			}
			out = append(out, f)
		}
	}
	return out, nil
}
