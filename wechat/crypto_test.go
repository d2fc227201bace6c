package wechat_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/wxpush/wxpush/wechat"
)

// Vector V2 (docs/wechat-details.md §7.2): WeChat's official WXBizMsgCrypt sample.
const (
	v2Token     = "spamtest"
	v2AESKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	v2AppID     = "wx2c2769f8efd9abc2"
	v2Timestamp = "1409735669"
	v2Nonce     = "1320562132"
	v2MsgSig    = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
	v2Random    = "89465c840c5f116f"
	v2Encrypt   = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
	v2Msg       = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n" +
		"<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n" +
		"<CreateTime>1409735668</CreateTime>\n" +
		"<MsgType><![CDATA[text]]></MsgType>\n" +
		"<Content><![CDATA[abcdteT]]></Content>\n" +
		"<MsgId>6054768590064713728</MsgId>\n" +
		"</xml>"
	// v2Body is the compatible-mode push: plain fields and Encrypt together.
	v2Body = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[" + v2Encrypt + "]]></Encrypt></xml>"
)

func v2Crypter(t testing.TB) *wechat.Crypter {
	t.Helper()
	c, err := wechat.NewCrypter(v2Token, v2AESKey, v2AppID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMsgSignature_V2(t *testing.T) {
	if got := wechat.MsgSignature(v2Token, v2Timestamp, v2Nonce, v2Encrypt); got != v2MsgSig {
		t.Errorf("MsgSignature = %s, want %s", got, v2MsgSig)
	}
	c := v2Crypter(t)
	if got := c.Sign(v2Timestamp, v2Nonce, v2Encrypt); got != v2MsgSig {
		t.Errorf("Sign = %s, want %s", got, v2MsgSig)
	}
	if !c.Verify(v2Timestamp, v2Nonce, v2Encrypt, v2MsgSig) {
		t.Error("Verify rejected the official signature")
	}
	if !c.Verify(v2Timestamp, v2Nonce, v2Encrypt, strings.ToUpper(v2MsgSig)) {
		t.Error("Verify rejected the signature in upper case")
	}
	for name, sig := range map[string]string{
		"last digit": v2MsgSig[:39] + "b",
		"truncated":  v2MsgSig[:39],
		"empty":      "",
		"plain":      wechat.Signature(v2Token, v2Timestamp, v2Nonce),
	} {
		if c.Verify(v2Timestamp, v2Nonce, v2Encrypt, sig) {
			t.Errorf("Verify accepted a wrong signature (%s)", name)
		}
	}
	if c.Verify(v2Timestamp, "1320562133", v2Encrypt, v2MsgSig) {
		t.Error("Verify accepted the signature for another nonce")
	}
}

func TestDecrypt_V2(t *testing.T) {
	got, err := v2Crypter(t).Decrypt(v2Encrypt)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != v2Msg {
		t.Errorf("Decrypt =\n%q\nwant\n%q", got, v2Msg)
	}
	if len(got) != 280 {
		t.Errorf("len = %d, want L = 280", len(got))
	}
	// The envelope's layout: 16 random + 4 length + 280 + 18 appid + 2 pad = 320.
	raw, _ := base64.StdEncoding.DecodeString(v2Encrypt)
	if len(raw) != 320 {
		t.Errorf("ciphertext is %d bytes, want 320 (pad 2)", len(raw))
	}
}

func TestEncryptWithRandom_V2ReproducesOfficialCiphertext(t *testing.T) {
	got, err := v2Crypter(t).EncryptWithRandom([]byte(v2Random), []byte(v2Msg))
	if err != nil {
		t.Fatal(err)
	}
	if got != v2Encrypt {
		t.Errorf("EncryptWithRandom =\n%s\nwant\n%s", got, v2Encrypt)
	}
}

func TestEncryptWithRandom_RejectsWrongRandomLength(t *testing.T) {
	c := v2Crypter(t)
	for _, n := range []int{0, 15, 17, 32} {
		if _, err := c.EncryptWithRandom(make([]byte, n), []byte("x")); err == nil {
			t.Errorf("random of %d bytes accepted", n)
		}
	}
}

func TestNewCrypter_BadKey(t *testing.T) {
	for _, key := range []string{"", "short", v2AESKey + "H", v2AESKey[:42] + "!"} {
		if _, err := wechat.NewCrypter(v2Token, key, v2AppID); !errors.Is(err, wechat.ErrBadAESKey) {
			t.Errorf("NewCrypter(%q) err = %v, want ErrBadAESKey", key, err)
		}
	}
}

func TestEncryptDecrypt_RoundTripAllLengths(t *testing.T) {
	c := v2Crypter(t)
	// 20 bytes of header + 18 of appid: lengths 26, 58, 90 fill whole
	// 32-byte blocks and take a full block of padding.
	for n := 0; n <= 100; n++ {
		msg := bytes.Repeat([]byte{byte('a' + n%26)}, n)
		enc, err := c.Encrypt(msg)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			t.Fatal(err)
		}
		if plain := 20 + n + len(v2AppID); len(raw)%32 != 0 || len(raw) <= plain || len(raw) > plain+32 {
			t.Errorf("n=%d: ciphertext %d bytes for %d bytes of plaintext", n, len(raw), plain)
		}
		got, err := c.Decrypt(enc)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("n=%d: round trip gave %q", n, got)
		}
	}
}

func TestEncrypt_RandomPrefixDiffers(t *testing.T) {
	c := v2Crypter(t)
	a, _ := c.Encrypt([]byte("same"))
	b, _ := c.Encrypt([]byte("same"))
	if a == b {
		t.Error("two encryptions of the same message are identical")
	}
}

func TestDecrypt_OtherAppID(t *testing.T) {
	other, err := wechat.NewCrypter(v2Token, v2AESKey, "wx0000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Decrypt(v2Encrypt); !errors.Is(err, wechat.ErrAppIDMismatch) {
		t.Errorf("err = %v, want ErrAppIDMismatch", err)
	}
	// An appid that is a prefix of ours must not match either.
	short, _ := wechat.NewCrypter(v2Token, v2AESKey, v2AppID[:10])
	if _, err := short.Decrypt(v2Encrypt); !errors.Is(err, wechat.ErrAppIDMismatch) {
		t.Errorf("prefix appid: err = %v, want ErrAppIDMismatch", err)
	}
}

func TestDecrypt_WrongKeyFails(t *testing.T) {
	c, err := wechat.NewCrypter(v2Token, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", v2AppID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Decrypt(v2Encrypt); err == nil {
		t.Errorf("decrypted with the wrong key: %q", got)
	}
}

// flipPad changes the last plaintext byte (the pad length) by xoring the
// matching byte of the previous ciphertext block (CBC).
func flipPad(t *testing.T, enc string, xor byte) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-17] ^= xor
	return base64.StdEncoding.EncodeToString(raw)
}

func TestDecrypt_BadPadding(t *testing.T) {
	c := v2Crypter(t)
	// V2 ends in pad 2 (0x02 0x02).
	tests := map[string]byte{
		"pad 0":            0x02,        // 0x02 → 0x00
		"pad 33":           0x02 ^ 0x21, // → 33
		"pad 255":          0x02 ^ 0xff,
		"inconsistent (3)": 0x02 ^ 0x03, // claims 3 bytes, the third is not 0x03
	}
	for name, x := range tests {
		if _, err := c.Decrypt(flipPad(t, v2Encrypt, x)); !errors.Is(err, wechat.ErrBadPadding) {
			t.Errorf("%s: err = %v, want ErrBadPadding", name, err)
		}
	}
}

func TestDecrypt_BadCiphertext(t *testing.T) {
	c := v2Crypter(t)
	raw, _ := base64.StdEncoding.DecodeString(v2Encrypt)
	tests := map[string]string{
		"empty":           "",
		"not base64":      "!!!not base64!!!",
		"truncated b64":   v2Encrypt[:len(v2Encrypt)-3],
		"half a block":    base64.StdEncoding.EncodeToString(raw[:8]),
		"not block sized": base64.StdEncoding.EncodeToString(raw[:len(raw)-1]),
		"garbage":         "aGVsbG8gd29ybGQ=",
	}
	for name, enc := range tests {
		if _, err := c.Decrypt(enc); !errors.Is(err, wechat.ErrBadCiphertext) {
			t.Errorf("%s: err = %v, want ErrBadCiphertext", name, err)
		}
	}
}

func TestDecrypt_LengthFieldBeyondData(t *testing.T) {
	c := v2Crypter(t)
	enc, err := c.EncryptWithRandom([]byte(v2Random), []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(enc)
	// The length field is plaintext bytes 16..19 of the second block: flip
	// its high byte through the first ciphertext block... which is the IV's
	// job for block 0, so corrupt block 1's source instead: byte 16 of the
	// plaintext is controlled by ciphertext byte 0.
	raw[0] ^= 0x80
	_, err = c.Decrypt(base64.StdEncoding.EncodeToString(raw))
	if !errors.Is(err, wechat.ErrBadCiphertext) {
		t.Errorf("err = %v, want ErrBadCiphertext", err)
	}
}

func TestEncryptReply_DecryptReplyRoundTrip(t *testing.T) {
	c := v2Crypter(t)
	reply := wechat.TextReply("oyORnuP8q7ou2gfYjqLzSIWZf0rs", "gh_10f6c3c3ac5a", 1409735670, "已绑定 ]]> <ok>")
	env, err := c.EncryptReply(reply, v2Timestamp, v2Nonce)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<xml><Encrypt><![CDATA[", "<MsgSignature><![CDATA[", "<TimeStamp>" + v2Timestamp + "</TimeStamp>", "<Nonce><![CDATA[" + v2Nonce + "]]></Nonce></xml>"} {
		if !bytes.Contains(env, []byte(want)) {
			t.Errorf("envelope lacks %s:\n%s", want, env)
		}
	}
	got, err := c.DecryptReply(env)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, reply) {
		t.Errorf("DecryptReply = %s, want %s", got, reply)
	}
	r, err := wechat.ParseReply(got)
	if err != nil || r.Content != "已绑定 ]]> <ok>" {
		t.Errorf("ParseReply = %+v, %v", r, err)
	}
}

func TestDecryptReply_RejectsBadSignature(t *testing.T) {
	c := v2Crypter(t)
	env, err := c.EncryptReply([]byte("<xml/>"), v2Timestamp, v2Nonce)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(env, []byte("<Nonce><![CDATA["+v2Nonce), []byte("<Nonce><![CDATA[1"), 1)
	if _, err := c.DecryptReply(tampered); !errors.Is(err, wechat.ErrBadSignature) {
		t.Errorf("tampered nonce: err = %v, want ErrBadSignature", err)
	}
	other, _ := wechat.NewCrypter("othertoken", v2AESKey, v2AppID)
	if _, err := other.DecryptReply(env); !errors.Is(err, wechat.ErrBadSignature) {
		t.Errorf("other token: err = %v, want ErrBadSignature", err)
	}
	if _, err := c.DecryptReply([]byte("<xml><Nonce>1</Nonce></xml>")); !errors.Is(err, wechat.ErrBadXML) {
		t.Errorf("no Encrypt: err = %v, want ErrBadXML", err)
	}
	if _, err := c.DecryptReply([]byte("success")); !errors.Is(err, wechat.ErrBadXML) {
		t.Errorf("not XML: err = %v, want ErrBadXML", err)
	}
}

// The official V2 push, read as the server would: verify, then decrypt.
func TestDecrypt_V2BodyThroughParseInbound(t *testing.T) {
	c := v2Crypter(t)
	m, err := wechat.ParseInbound([]byte(v2Body))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Verify(v2Timestamp, v2Nonce, m.Encrypt, v2MsgSig) {
		t.Fatal("signature of the parsed Encrypt does not verify")
	}
	plain, err := c.Decrypt(m.Encrypt)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := wechat.ParseInbound(plain)
	if err != nil {
		t.Fatal(err)
	}
	m.Encrypt = ""
	if inner != m {
		t.Errorf("decrypted message %+v differs from the plain fields %+v", inner, m)
	}
}
