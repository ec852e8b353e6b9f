-- Events are kept in partitions by processed_at, so that retention removes
-- a whole partition at a time (DETACH and DROP, no row-by-row DELETE), and
-- so that only the newest partition takes inserts. processed_at, not the
-- event's own timestamp, is the partition key: every row has a partition
-- ready for it however odd its timestamp (year 0000 or 9999), a partition
-- whose range is over never takes another row, and retention means what a
-- log store's operator expects: what was received longer ago than RETENTION
-- is gone.
--
-- A unique index on a partitioned table must include the partition key, so
-- the keys move to a table of their own: event_keys holds one row per
-- (topic, event_id) ever stored, for as long as DEDUP_WINDOW, and its primary
-- key is now the source of truth for deduplication. Its id and processed_at
-- locate the key's row in processed_events, through the (processed_at, id)
-- index, while that row is kept.
--
-- The partitioned table keeps the three listing indexes and a BRIN index on
-- "timestamp", which cost little at ingest. The indexes that serve time
-- windows (see shared/store/partitions.go) are built on a partition once its
-- range is over and it takes no more rows.
--
-- On a populated database, the existing table becomes one partition
-- covering everything up to the end of the current UTC day: its listing
-- indexes are kept as they are, and its keys are copied into event_keys
-- (the migration's cost, which grows with the number of rows).

-- Consumers of the previous version may still be running: no row may be
-- committed between the copy of the keys below and the end of the
-- migration, or it would be stored without a key. SHARE lets reads go on.
LOCK TABLE processed_events IN SHARE MODE;

CREATE TABLE event_keys (
    topic        text COLLATE "C" NOT NULL,
    event_id     text COLLATE "C" NOT NULL,
    id           bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO event_keys (topic, event_id, id, processed_at)
SELECT topic, event_id, id, processed_at FROM processed_events;

ALTER TABLE event_keys ADD CONSTRAINT event_keys_pkey PRIMARY KEY (topic, event_id);

-- Keys arrive in processed_at order: a BRIN index serves the DEDUP_WINDOW
-- prune at almost no cost to inserts.
CREATE INDEX event_keys_processed_at_idx ON event_keys USING brin (processed_at);

-- The old table, with its rows, becomes a partition. Its identity sequence
-- goes with DROP IDENTITY (a partition cannot have one), so its position is
-- carried over to the sequence the partitioned table draws ids from; the
-- old unique constraint is now event_keys' primary key.
CREATE SEQUENCE processed_events_id_seq_new;
DO $$
DECLARE
    last bigint;
    called boolean;
BEGIN
    EXECUTE format('SELECT last_value, is_called FROM %s', pg_get_serial_sequence('processed_events', 'id'))
        INTO last, called;
    PERFORM setval('processed_events_id_seq_new', last, called);
END
$$;
ALTER TABLE processed_events ALTER COLUMN id DROP IDENTITY;
ALTER SEQUENCE processed_events_id_seq_new RENAME TO processed_events_id_seq;
ALTER TABLE processed_events DROP CONSTRAINT processed_events_topic_event_id_key;
ALTER TABLE processed_events RENAME TO processed_events_migrated;
ALTER INDEX processed_events_processed_at_id_idx RENAME TO processed_events_migrated_processed_at_id_idx;
ALTER INDEX processed_events_topic_processed_at_id_idx RENAME TO processed_events_migrated_topic_processed_at_id_idx;
ALTER INDEX processed_events_source_processed_at_id_idx RENAME TO processed_events_migrated_source_processed_at_id_idx;

CREATE TABLE processed_events (
    id           bigint      NOT NULL DEFAULT nextval('processed_events_id_seq'),
    topic        text COLLATE "C" NOT NULL,
    event_id     text COLLATE "C" NOT NULL,
    "timestamp"  timestamptz NOT NULL,
    source       text COLLATE "C" NOT NULL,
    payload      jsonb       NOT NULL,
    message_id   text COLLATE "C" NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (processed_at);
ALTER SEQUENCE processed_events_id_seq OWNED BY processed_events.id;

CREATE INDEX processed_events_processed_at_id_idx ON processed_events (processed_at, id);
CREATE INDEX processed_events_topic_processed_at_id_idx ON processed_events (topic, processed_at, id);
CREATE INDEX processed_events_source_processed_at_id_idx ON processed_events (source, processed_at, id);
CREATE INDEX processed_events_timestamp_brin ON processed_events USING brin ("timestamp");

-- ATTACH checks every row against the range and adopts the three listing
-- indexes, which match the parent's; only the BRIN index is built.
DO $$
DECLARE
    upper timestamptz;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM processed_events_migrated) THEN
        DROP TABLE processed_events_migrated;
        RETURN;
    END IF;
    -- 24 hours, not 1 day: a day of the session's time zone may have 23 or
    -- 25 hours, and the bound must fall on the grid of whole UTC days.
    SELECT date_trunc('day', greatest(max(processed_at), now()), 'UTC') + interval '24 hours'
        INTO upper FROM processed_events_migrated;
    EXECUTE format('ALTER TABLE processed_events_migrated RENAME TO %I',
        'processed_events_' || to_char(upper AT TIME ZONE 'UTC', 'YYYYMMDD"_"HH24MI') || '_migrated');
    EXECUTE format('ALTER TABLE processed_events ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
        'processed_events_' || to_char(upper AT TIME ZONE 'UTC', 'YYYYMMDD"_"HH24MI') || '_migrated', upper);
END
$$;

-- A duplicate that arrives after its original was removed by retention has
-- nothing to be compared with: payload_matches is NULL for it.
ALTER TABLE duplicate_events ALTER COLUMN payload_matches DROP NOT NULL;

-- Dead letters are removed by age (DEAD_LETTER_RETENTION); they arrive in
-- created_at order.
CREATE INDEX dead_letters_created_at_idx ON dead_letters USING brin (created_at);

---- create above / drop below ----

DROP INDEX dead_letters_created_at_idx;
DELETE FROM duplicate_events WHERE payload_matches IS NULL;
ALTER TABLE duplicate_events ALTER COLUMN payload_matches SET NOT NULL;

ALTER TABLE processed_events RENAME TO processed_events_partitioned;
ALTER INDEX processed_events_processed_at_id_idx RENAME TO processed_events_partitioned_processed_at_id_idx;
ALTER INDEX processed_events_topic_processed_at_id_idx RENAME TO processed_events_partitioned_topic_processed_at_id_idx;
ALTER INDEX processed_events_source_processed_at_id_idx RENAME TO processed_events_partitioned_source_processed_at_id_idx;
CREATE TABLE processed_events (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    topic        text COLLATE "C" NOT NULL,
    event_id     text COLLATE "C" NOT NULL,
    "timestamp"  timestamptz NOT NULL,
    source       text COLLATE "C" NOT NULL,
    payload      jsonb       NOT NULL,
    message_id   text COLLATE "C" NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT processed_events_topic_event_id_key UNIQUE (topic, event_id)
);
INSERT INTO processed_events (id, topic, event_id, "timestamp", source, payload, message_id, processed_at)
OVERRIDING SYSTEM VALUE
SELECT id, topic, event_id, "timestamp", source, payload, message_id, processed_at FROM processed_events_partitioned;
SELECT setval(pg_get_serial_sequence('processed_events', 'id'), last_value, is_called) FROM processed_events_id_seq;
DROP TABLE processed_events_partitioned;
CREATE INDEX processed_events_processed_at_id_idx ON processed_events (processed_at, id);
CREATE INDEX processed_events_topic_processed_at_id_idx ON processed_events (topic, processed_at, id);
CREATE INDEX processed_events_source_processed_at_id_idx ON processed_events (source, processed_at, id);
DROP TABLE event_keys;
