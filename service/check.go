package service

import (
	"context"
	"errors"
)

// CheckSend applies Send's rules to r — the same code, in the same order
// — without queueing anything, and returns the problems Send would answer
// with, by field ("to", "topics", "kind", "text", "template", "url",
// "title", "content", "data.KEY", …); empty when Send would accept r. The
// compose form calls it as the admin types, so its live checks and the
// send agree.
func (s *Service) CheckSend(ctx context.Context, r SendRequest) (map[string]string, error) {
	if err := checkSize(r); err != nil {
		return fieldsOf(err)
	}
	ids, err := s.resolveNames(ctx, r)
	if err != nil {
		return fieldsOf(err)
	}
	topics, err := s.resolveTopics(ctx, r.Topics)
	if err != nil {
		return fieldsOf(err)
	}
	fe := fieldErrors{}
	if r.All && len(topics) > 0 {
		fe.add("topics", "发给全部用户时不能再指定主题。")
	}
	if _, err := s.checkContent(ctx, r, fe); err != nil {
		return nil, err
	}
	rcpts, err := s.recipients(ctx, r.All, ids, len(topics) > 0, fe)
	if err != nil {
		return nil, err
	}
	if !r.All {
		if _, err := s.topicRecipients(ctx, rcpts, topics, fe); err != nil {
			return nil, err
		}
	}
	return fe, nil
}

// fieldsOf returns the field problems of a refusal, or the error itself
// when it is not one.
func fieldsOf(err error) (map[string]string, error) {
	var se *Error
	if errors.As(err, &se) && se.Fields != nil {
		return se.Fields, nil
	}
	return nil, err
}
