package service_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
)

func TestFirstRun_TrueOnlyWithoutAccounts(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "wxpush.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetBcryptCost(bcrypt.MinCost)
	svc := service.New(service.Deps{Store: st}, service.Config{})
	if first, err := svc.FirstRun(ctx); err != nil || !first {
		t.Fatalf("empty database: FirstRun = %v, %v; want true", first, err)
	}
	if _, err := svc.Signup(ctx, "root", "password-1", "password-1"); err != nil {
		t.Fatal(err)
	}
	if first, err := svc.FirstRun(ctx); err != nil || first {
		t.Fatalf("after the first sign-up: FirstRun = %v, %v; want false", first, err)
	}
}

// The rule the sign-up form states up front is the rule CheckSignup applies.
func TestPasswordRule_StatesTheCheckedLimits(t *testing.T) {
	for _, n := range []int{service.MinPasswordChars, service.MaxPasswordBytes} {
		if !strings.Contains(service.PasswordRule, strconv.Itoa(n)) {
			t.Errorf("PasswordRule %q does not state %d", service.PasswordRule, n)
		}
	}
	short := strings.Repeat("密", service.MinPasswordChars-1)
	if msg := service.CheckSignup("alice", short, short); msg == "" {
		t.Errorf("a %d-character password was accepted", service.MinPasswordChars-1)
	}
	ok := strings.Repeat("密", service.MinPasswordChars)
	if msg := service.CheckSignup("alice", ok, ok); msg != "" {
		t.Errorf("a %d-character password was refused: %s", service.MinPasswordChars, msg)
	}
	long := strings.Repeat("a", service.MaxPasswordBytes+1)
	if msg := service.CheckSignup("alice", long, long); msg == "" {
		t.Errorf("a %d-byte password was accepted", service.MaxPasswordBytes+1)
	}
}
