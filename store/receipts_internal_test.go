package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// The pending receipts never exceed pendingReceiptCap: a new one past it
// drops the oldest, and the newest are kept.
func TestPendingReceipts_CapDropsTheOldest(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "wxpush.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Fill the table to the cap directly (a receipt each through
	// IngestInbound would take a while): msgids 1 … cap, oldest first.
	now := s.nowMs()
	err = s.tx(ctx, func(tx *wtx) error {
		for i := int64(1); i <= pendingReceiptCap; i++ {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO pending_receipts(msgid, receipt, received_at) VALUES(?, 'delivered', ?)`, i, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		msgid := int64(pendingReceiptCap + 1 + i)
		if _, err := s.IngestInbound(ctx, Inbound{
			DedupKey: fmt.Sprint("r", msgid), OpenID: "o", MsgType: "event", Event: "TEMPLATESENDJOBFINISH",
			CreatedAt: s.now(), TemplateMsgID: msgid, Receipt: ReceiptBlocked,
		}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.PendingReceipts(ctx); err != nil || n != pendingReceiptCap {
		t.Fatalf("%d pending receipts, %v; want the cap, %d", n, err, pendingReceiptCap)
	}
	var oldest, newest int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT min(msgid), max(msgid) FROM pending_receipts`).Scan(&oldest, &newest); err != nil {
		t.Fatal(err)
	}
	if oldest != 4 || newest != pendingReceiptCap+3 {
		t.Errorf("kept msgids %d … %d, want 4 … %d (the 3 oldest dropped)", oldest, newest, pendingReceiptCap+3)
	}
}
