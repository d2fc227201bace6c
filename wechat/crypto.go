package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Errors of safe mode (docs/wechat.md §8). Decrypt wraps them; test with errors.Is.
var (
	ErrBadAESKey     = errors.New("wechat: EncodingAESKey must be 43 characters of [A-Za-z0-9]")
	ErrBadCiphertext = errors.New("wechat: malformed ciphertext")
	ErrBadPadding    = errors.New("wechat: invalid PKCS#7 padding")
	ErrAppIDMismatch = errors.New("wechat: decrypted message is for another appid")
)

const (
	encodingAESKeyLen = 43
	padBlock          = 32 // PKCS#7 block of WeChat's padding, not AES's 16 (docs/wechat.md §8)
	randomLen         = 16
	headerLen         = randomLen + 4 // random ‖ big-endian message length
)

// Crypter encrypts, decrypts and signs server messages of one account in
// safe and compatible mode (docs/wechat.md §8). It is immutable and safe for concurrent use.
type Crypter struct {
	token string
	appID string
	block cipher.Block
	iv    []byte
}

// NewCrypter checks and decodes the account's EncodingAESKey: 43 characters
// of [A-Za-z0-9]; the AES-256 key is base64(EncodingAESKey + "="), the IV its
// first 16 bytes (docs/wechat.md §8). The decoding ignores the low bits of the last
// character, as WeChat's own SDKs do: real keys have them set (…ABCDEFG).
func NewCrypter(token, encodingAESKey, appID string) (*Crypter, error) {
	key, err := decodeAESKey(encodingAESKey)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil { // unreachable: the key is 32 bytes
		return nil, fmt.Errorf("%w: %v", ErrBadAESKey, err)
	}
	return &Crypter{token: token, appID: appID, block: block, iv: key[:aes.BlockSize]}, nil
}

func decodeAESKey(s string) ([]byte, error) {
	if len(s) != encodingAESKeyLen {
		return nil, ErrBadAESKey
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return nil, ErrBadAESKey
		}
	}
	// StdEncoding (not .Strict()) discards the trailing bits.
	key, err := base64.StdEncoding.DecodeString(s + "=")
	if err != nil || len(key) != 32 {
		return nil, ErrBadAESKey
	}
	return key, nil
}

// Encrypt encrypts msg with 16 fresh random bytes and returns the base64
// Encrypt value (docs/wechat.md §8).
func (c *Crypter) Encrypt(msg []byte) (string, error) {
	random := make([]byte, randomLen)
	if _, err := rand.Read(random); err != nil {
		return "", fmt.Errorf("wechat: encrypt: %w", err)
	}
	return c.EncryptWithRandom(random, msg)
}

// EncryptWithRandom is Encrypt with the caller's 16 random bytes: the output
// is deterministic, for test vectors. Plaintext is random16 ‖ len(msg) as
// 4 bytes big-endian ‖ msg ‖ appid, PKCS#7-padded to 32 bytes (docs/wechat.md §8).
func (c *Crypter) EncryptWithRandom(random16, msg []byte) (string, error) {
	if len(random16) != randomLen {
		return "", fmt.Errorf("wechat: encrypt: random prefix is %d bytes, want %d", len(random16), randomLen)
	}
	if uint64(len(msg)) > math.MaxUint32 {
		return "", errors.New("wechat: encrypt: message longer than 4 GiB")
	}
	n := headerLen + len(msg) + len(c.appID)
	pad := padBlock - n%padBlock // 1..32: a full block when already aligned
	plain := make([]byte, 0, n+pad)
	plain = append(plain, random16...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, c.appID...)
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(c.block, c.iv).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}

// Decrypt decodes an Encrypt value and returns the message, after checking
// the padding, the length field and that the trailing appid is ours (docs/wechat.md §8).
// Errors wrap ErrBadCiphertext, ErrBadPadding or ErrAppIDMismatch.
func (c *Crypter) Decrypt(encrypted string) ([]byte, error) {
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encrypted))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrBadCiphertext)
	}
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of blocks", ErrBadCiphertext, len(data))
	}
	cipher.NewCBCDecrypter(c.block, c.iv).CryptBlocks(data, data)
	pad := int(data[len(data)-1])
	if pad < 1 || pad > padBlock || pad > len(data) {
		return nil, ErrBadPadding
	}
	for _, b := range data[len(data)-pad:] {
		if int(b) != pad {
			return nil, ErrBadPadding
		}
	}
	data = data[:len(data)-pad]
	if len(data) < headerLen {
		return nil, fmt.Errorf("%w: too short", ErrBadCiphertext)
	}
	n := uint64(binary.BigEndian.Uint32(data[randomLen:headerLen]))
	if n > uint64(len(data)-headerLen) {
		return nil, fmt.Errorf("%w: length field %d exceeds the data", ErrBadCiphertext, n)
	}
	msg, appID := data[headerLen:headerLen+int(n)], data[headerLen+int(n):]
	if subtle.ConstantTimeCompare(appID, []byte(c.appID)) != 1 {
		return nil, ErrAppIDMismatch
	}
	return bytes.Clone(msg), nil
}

// MsgSignature is safe mode's msg_signature: hex sha1 of token, timestamp,
// nonce and the Encrypt value, sorted as strings and concatenated (docs/wechat.md §8).
func MsgSignature(token, timestamp, nonce, encrypted string) string {
	return sortedSHA1(token, timestamp, nonce, encrypted)
}

// Sign returns the msg_signature of an Encrypt value under c's token.
func (c *Crypter) Sign(timestamp, nonce, encrypted string) string {
	return MsgSignature(c.token, timestamp, nonce, encrypted)
}

// Verify checks a msg_signature in constant time.
func (c *Crypter) Verify(timestamp, nonce, encrypted, msgSignature string) bool {
	want := c.Sign(timestamp, nonce, encrypted)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(msgSignature))) == 1
}

// ErrBadSignature is returned by DecryptReply when MsgSignature does not match.
var ErrBadSignature = errors.New("wechat: msg_signature does not match")

// EncryptReply wraps a plain passive reply in the encrypted envelope of docs/wechat.md §8:
// <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>. WeChat's
// examples reuse the request's timestamp and nonce.
func (c *Crypter) EncryptReply(reply []byte, timestamp, nonce string) ([]byte, error) {
	enc, err := c.Encrypt(reply)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("<xml><Encrypt>")
	writeCDATA(&b, enc)
	b.WriteString("</Encrypt><MsgSignature>")
	writeCDATA(&b, c.Sign(timestamp, nonce, enc))
	b.WriteString("</MsgSignature><TimeStamp>")
	writeEscaped(&b, timestamp)
	b.WriteString("</TimeStamp><Nonce>")
	writeCDATA(&b, nonce)
	b.WriteString("</Nonce></xml>")
	return b.Bytes(), nil
}

// DecryptReply reads an envelope made by EncryptReply (WeChat's side of a
// passive reply): it verifies MsgSignature and returns the plain reply.
// Errors wrap ErrBadXML, ErrBadSignature or Decrypt's errors.
func (c *Crypter) DecryptReply(envelope []byte) ([]byte, error) {
	f, err := parseFields(envelope, envelopeFields)
	if err != nil {
		return nil, err
	}
	enc := f["Encrypt"]
	if enc == "" {
		return nil, fmt.Errorf("%w: envelope has no Encrypt", ErrBadXML)
	}
	if !c.Verify(strings.TrimSpace(f["TimeStamp"]), f["Nonce"], enc, f["MsgSignature"]) {
		return nil, ErrBadSignature
	}
	return c.Decrypt(enc)
}

var envelopeFields = map[string]bool{"Encrypt": true, "MsgSignature": true, "TimeStamp": true, "Nonce": true}
