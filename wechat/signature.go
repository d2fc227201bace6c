package wechat

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"slices"
	"strings"
)

// Signature is the server-URL signature: hex sha1 of token, timestamp and
// nonce sorted as strings and concatenated (docs/wechat.md §7). Safe mode's msg_signature
// (docs/wechat.md §8) is the same construction over four values.
func Signature(token, timestamp, nonce string) string {
	return sortedSHA1(token, timestamp, nonce)
}

// VerifySignature checks a server-URL signature in constant time.
func VerifySignature(token, timestamp, nonce, signature string) bool {
	want := Signature(token, timestamp, nonce)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(signature))) == 1
}

func sortedSHA1(parts ...string) string {
	parts = slices.Clone(parts)
	slices.Sort(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}
