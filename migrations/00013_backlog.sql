-- +goose Up
-- The outbox's backlog in creation order (deliveries' ids grow with time):
-- its oldest entry is the first row, its depth a bounded count, and the part
-- of it ahead of one message a range — each without reading sent history.
-- state is in the index so that counting never reads the table.
CREATE INDEX deliveries_backlog ON deliveries(id, state) WHERE state IN ('queued', 'retrying');

-- +goose Down
DROP INDEX deliveries_backlog;
