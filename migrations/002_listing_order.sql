-- The listing shows events newest processed first, and must agree with the
-- processed_at it returns. processed_at is the consuming transaction's start,
-- while identity values are handed out as rows are inserted, so concurrent
-- transactions interleave them: the listing is ordered by (processed_at, id)
-- instead, id only breaking ties within a transaction.
--
-- These indexes replace (topic, id), (source, id) and the primary key on id,
-- which nothing reads any more: the table keeps four indexes, as before.
-- (topic, event_id) stays unique and is the key of a row.
--
-- IF NOT EXISTS lets an operator of a large table build the three indexes
-- beforehand with CREATE INDEX CONCURRENTLY (same names), so that this
-- migration, which runs in one transaction, holds its lock only briefly.
CREATE INDEX IF NOT EXISTS processed_events_processed_at_id_idx ON processed_events (processed_at, id);
CREATE INDEX IF NOT EXISTS processed_events_topic_processed_at_id_idx ON processed_events (topic, processed_at, id);
CREATE INDEX IF NOT EXISTS processed_events_source_processed_at_id_idx ON processed_events (source, processed_at, id);
DROP INDEX processed_events_topic_id_idx;
DROP INDEX processed_events_source_id_idx;
ALTER TABLE processed_events DROP CONSTRAINT processed_events_pkey;

---- create above / drop below ----

ALTER TABLE processed_events ADD CONSTRAINT processed_events_pkey PRIMARY KEY (id);
CREATE INDEX processed_events_source_id_idx ON processed_events (source, id);
CREATE INDEX processed_events_topic_id_idx ON processed_events (topic, id);
DROP INDEX processed_events_source_processed_at_id_idx;
DROP INDEX processed_events_topic_processed_at_id_idx;
DROP INDEX processed_events_processed_at_id_idx;
