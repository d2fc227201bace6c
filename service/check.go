package service

import (
	"context"
	"errors"
)

// CheckSend applies Send's rules to r — the same code, in the same order
// — without queueing anything, and returns the problems Send would answer
// with, by field ("to", "kind", "text", "template", "url", "data.KEY");
// empty when Send would accept r. The compose form calls it as the admin
// types, so its live checks and the send agree.
func (s *Service) CheckSend(ctx context.Context, r SendRequest) (map[string]string, error) {
	ids, err := s.resolveNames(ctx, r)
	var se *Error
	if errors.As(err, &se) && se.Fields != nil {
		return se.Fields, nil
	}
	if err != nil {
		return nil, err
	}
	fe := fieldErrors{}
	if _, err := s.checkContent(ctx, r, fe); err != nil {
		return nil, err
	}
	if _, err := s.recipients(ctx, r.All, ids, fe); err != nil {
		return nil, err
	}
	return fe, nil
}
