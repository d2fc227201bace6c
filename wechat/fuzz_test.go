package wechat_test

import (
	"bytes"
	"testing"

	"github.com/wxpush/wxpush/wechat"
)

func FuzzParseInbound(f *testing.F) {
	for _, s := range []string{
		sampleText, sampleSubscribe, sampleSubscribeQR, sampleScan, sampleUnsubscribe, sampleSafe, v2Body,
		templateFinished("success"), templateFinished("failed:user block"), templateFinished("failed: system failed"),
		"<xml><Content><![CDATA[a]]]]><![CDATA[>b]]></Content></xml>",
		`<!DOCTYPE xml [<!ENTITY x "boom">]><xml><Content>&x;</Content></xml>`,
		"<xml><Content>&#20320;&amp;</Content><MsgId> 1 </MsgId></xml>",
		"<xml><Content>a&#13;b\r\nc&#xD;</Content></xml>",
		"", "success", "<xml/>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := wechat.ParseInbound(body)
		if err != nil {
			return
		}
		_ = m.DedupKey()
		_ = m.Scene()
		again, err := wechat.ParseInbound(m.XML())
		if err != nil {
			t.Fatalf("XML() of a parsed message does not parse: %v\n%s", err, m.XML())
		}
		if again != m {
			t.Fatalf("round trip changed the message\n got %+v\nwant %+v", again, m)
		}
		r, err := wechat.ParseReply(wechat.TextReply(m.FromUserName, m.ToUserName, m.CreateTime, m.Content))
		if err != nil || r.Content != m.Content || r.ToUserName != m.FromUserName || r.FromUserName != m.ToUserName {
			t.Fatalf("TextReply round trip: %+v, %v", r, err)
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	c := v2Crypter(f)
	for _, s := range []string{
		v2Encrypt, "", "AAAA", "aGVsbG8gd29ybGQ=", "!!!", v2Encrypt[:len(v2Encrypt)-4],
		"AAAAAAAAAAAAAAAAAAAAAA==", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	} {
		f.Add(s)
	}
	if enc, err := c.EncryptWithRandom([]byte(v2Random), nil); err == nil {
		f.Add(enc)
	}
	random := []byte(v2Random)
	f.Fuzz(func(t *testing.T, enc string) {
		msg, err := c.Decrypt(enc)
		if err != nil {
			return
		}
		again, err := c.EncryptWithRandom(random, msg)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Decrypt(again)
		if err != nil {
			t.Fatalf("re-encrypted message does not decrypt: %v", err)
		}
		if !bytes.Equal(back, msg) {
			t.Fatalf("round trip gave %q, want %q", back, msg)
		}
	})
}

// FuzzEncryptDecrypt covers what FuzzDecrypt cannot reach by mutating
// ciphertext (a valid appid behind valid padding): any message and random
// prefix round-trip, and a wrong appid is always caught.
func FuzzEncryptDecrypt(f *testing.F) {
	c := v2Crypter(f)
	other, err := wechat.NewCrypter(v2Token, v2AESKey, v2AppID+"x")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(v2Random), []byte(v2Msg))
	f.Add(make([]byte, 16), []byte{})
	f.Add([]byte("0123456789abcdef"), bytes.Repeat([]byte{32}, 26))
	f.Fuzz(func(t *testing.T, random, msg []byte) {
		if len(random) != 16 {
			return
		}
		enc, err := c.EncryptWithRandom(random, msg)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Decrypt(enc)
		if err != nil || !bytes.Equal(back, msg) {
			t.Fatalf("Decrypt = %q, %v; want %q", back, err, msg)
		}
		if got, err := other.Decrypt(enc); err == nil {
			t.Fatalf("another appid decrypted %q", got)
		}
	})
}
