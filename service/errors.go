package service

import (
	"errors"
	"fmt"
	"time"
)

// Code says what kind of failure an Error is. Adapters map it to their own
// terms in one place (handlers: an HTTP status; the CLI: a message).
type Code string

const (
	EInvalid      Code = "invalid"      // the input breaks a rule; Fields says where
	ENotFound     Code = "not_found"    // what was named does not exist
	EConflict     Code = "conflict"     // the state forbids it (taken name, unbound recipient, …)
	EUnauthorized Code = "unauthorized" // wrong or missing credentials
	EForbidden    Code = "forbidden"    // known caller, not allowed
	ETooLarge     Code = "too_large"    // the input is larger than allowed
	ETooMany      Code = "too_many"     // too many attempts; RetryAt says when to try again
	EUnavailable  Code = "unavailable"  // the site is not set up for it yet (e.g. no template chosen)
	EUpstream     Code = "upstream"     // WeChat refused or could not be reached
	EInternal     Code = "internal"     // a bug or a broken dependency; never shown in detail
)

// Error is the one error type of wxpush's rules: every adapter renders it
// (an HTML page, an htmx fragment, a JSON body, a CLI message) from the
// same fields.
type Error struct {
	Code Code
	// Reason is a stable, more precise name for programs (the API's error
	// code), e.g. "unknown_user" or "not_bound"; empty means Code says it all.
	Reason string
	// Message is for the person who asked, in Chinese.
	Message string
	// Fields maps an input field to what is wrong with it.
	Fields map[string]string
	// Err is the cause: logged, never shown.
	Err error
	// RetryAt, for ETooMany (and EUnavailable when it passes), is when
	// trying again can succeed.
	RetryAt time.Time
}

func (e *Error) Error() string {
	s := string(e.Code)
	if e.Reason != "" {
		s += "/" + e.Reason
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	for k, v := range e.Fields {
		s += fmt.Sprintf(" [%s: %s]", k, v)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error; anything else is EInternal with err as
// its cause (and no message of its own: internals are not shown).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: EInternal, Err: err}
}

// ErrorCode is err's Code, EInternal for errors of other types, "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	return AsError(err).Code
}

// fieldErrors gathers per-field messages; the first message for a field wins.
type fieldErrors map[string]string

func (f fieldErrors) add(field, msg string) {
	if _, ok := f[field]; !ok {
		f[field] = msg
	}
}
