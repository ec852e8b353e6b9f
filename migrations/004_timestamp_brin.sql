-- The BRIN index on "timestamp" is how a time window finds its rows in the
-- partition still taking them. Two things made it read that partition
-- whole:
--
-- * A block range is summarised only when a maintenance pass (every
--   MAINTENANCE_INTERVAL) or VACUUM gets to it, and an unsummarised range
--   matches every window. With autosummarize, autovacuum summarises each
--   range soon after the inserts move on to the next one.
-- * A plain minmax summary is one interval per block range: a single event
--   with a timestamp days off (a late upload, a wrong clock) stretches its
--   range's interval over those days. minmax_multi keeps up to 32 values or
--   intervals per range, so a few outliers cost a few points, not the range.
--
-- An option of a partitioned index cannot be altered: the index is built
-- again, on every partition, under the migration's locks (about half a second
-- per million events stored, in one transaction at start-up).

DROP INDEX processed_events_timestamp_brin;
CREATE INDEX processed_events_timestamp_brin ON processed_events
    USING brin ("timestamp" timestamptz_minmax_multi_ops) WITH (autosummarize = on);

---- create above / drop below ----

DROP INDEX processed_events_timestamp_brin;
CREATE INDEX processed_events_timestamp_brin ON processed_events USING brin ("timestamp");
