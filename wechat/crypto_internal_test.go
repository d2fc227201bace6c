package wechat

import (
	"encoding/hex"
	"errors"
	"testing"
)

func TestDecodeAESKey_DerivedKeys(t *testing.T) {
	tests := []struct{ key, want string }{
		{"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"},
		{"kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "916c4f115d94103cb15a998f74a0b71787603c398ebdf297d471a71140d2d5a4"},
		{"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760"},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "0000000000000000000000000000000000000000000000000000000000000000"},
		{"AdiqDDDvUNCeE1ZW5XJmjf9fqNBJpGBs4vL4cHKmHBS", "01d8aa0c30ef50d09e135656e572668dff5fa8d049a4606ce2f2f87072a61c14"},
	}
	for _, tt := range tests {
		key, err := decodeAESKey(tt.key)
		if err != nil {
			t.Errorf("decodeAESKey(%s): %v", tt.key, err)
			continue
		}
		if got := hex.EncodeToString(key); got != tt.want {
			t.Errorf("decodeAESKey(%s) = %s, want %s", tt.key, got, tt.want)
		}
	}
}

func TestDecodeAESKey_Rejects(t *testing.T) {
	for _, key := range []string{
		"",
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",   // 42
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH", // 44
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",  // padding char
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDE+G",  // base64 but not [A-Za-z0-9]
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDE/G",
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDé",
	} {
		if _, err := decodeAESKey(key); !errors.Is(err, ErrBadAESKey) {
			t.Errorf("decodeAESKey(%q) err = %v, want ErrBadAESKey", key, err)
		}
	}
}
