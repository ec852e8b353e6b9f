-- Processed events: exactly one row per (topic, event_id). The unique
-- constraint is the source of truth for deduplication; id is a surrogate key
-- for keyset pagination in processing order.
-- Identifiers are compared byte by byte (COLLATE "C"): they are names, not
-- prose, and locale-aware comparison in every index probe and sort costs
-- CPU on the hot path for nothing.
CREATE TABLE processed_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic        text COLLATE "C" NOT NULL,
    event_id     text COLLATE "C" NOT NULL,
    "timestamp"  timestamptz NOT NULL,
    source       text COLLATE "C" NOT NULL,
    payload      jsonb       NOT NULL,
    message_id   text COLLATE "C" NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT processed_events_topic_event_id_key UNIQUE (topic, event_id)
);

-- Listing one topic, or one source, newest processed first.
CREATE INDEX processed_events_topic_id_idx ON processed_events (topic, id);
CREATE INDEX processed_events_source_id_idx ON processed_events (source, id);

-- The ledger of consumed queue messages: a message whose ID is here was
-- committed, so a redelivery (crash between commit and ack) changes nothing.
CREATE TABLE consumed_messages (
    message_id  text COLLATE "C" PRIMARY KEY,
    consumed_at timestamptz NOT NULL DEFAULT now()
);

-- Rows arrive in consumed_at order, so a BRIN index serves pruning at almost
-- no cost to inserts.
CREATE INDEX consumed_messages_consumed_at_idx ON consumed_messages USING brin (consumed_at);

-- The audit of dropped duplicates: who sent them, when they were dropped, and
-- whether their payload matched the stored one (compared as jsonb, so key
-- order and whitespace do not count). Append-only and read by time, so it
-- has no key to maintain on every insert, only a BRIN index.
CREATE TABLE duplicate_events (
    topic           text        NOT NULL,
    event_id        text        NOT NULL,
    message_id      text        NOT NULL,
    source          text        NOT NULL,
    payload_matches boolean     NOT NULL,
    dropped_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX duplicate_events_dropped_at_idx ON duplicate_events USING brin (dropped_at);

-- Messages set aside, with the reason, kept for inspection and replay.
CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  text        NOT NULL,
    body        bytea       NOT NULL,
    reason      text        NOT NULL,
    events      integer     NOT NULL CHECK (events > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);

-- Counters are spread over shard rows that are summed on read, so that
-- concurrent consumers rarely wait for each other's row lock. A low fill
-- factor leaves room on each page for HOT updates of these hot rows.
CREATE TABLE stats_shards (
    shard             integer PRIMARY KEY CHECK (shard >= 0),
    received          bigint  NOT NULL DEFAULT 0,
    unique_processed  bigint  NOT NULL DEFAULT 0,
    duplicate_dropped bigint  NOT NULL DEFAULT 0,
    payload_conflicts bigint  NOT NULL DEFAULT 0,
    dead_lettered     bigint  NOT NULL DEFAULT 0
) WITH (fillfactor = 50);

CREATE TABLE topic_stats (
    topic             text COLLATE "C" NOT NULL,
    shard             integer     NOT NULL CHECK (shard >= 0),
    unique_count      bigint      NOT NULL DEFAULT 0,
    duplicate_count   bigint      NOT NULL DEFAULT 0,
    -- when the topic last got a new row on this shard; NULL while it has only
    -- had duplicates here
    last_processed_at timestamptz,
    PRIMARY KEY (topic, shard)
) WITH (fillfactor = 50);

-- Events accepted by the cloud publish path, counted once SQS accepted them.
CREATE TABLE published_counts (
    shard     integer PRIMARY KEY CHECK (shard >= 0),
    published bigint  NOT NULL DEFAULT 0
) WITH (fillfactor = 50);

-- The consume transaction bets that every message of its batch is new to the
-- ledger and sends all its statements at once; this raises when the bet is
-- lost (a redelivery), aborting the transaction so that the caller can ask
-- the ledger first.
CREATE FUNCTION logagg_require_new_messages(inserted bigint, expected bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF inserted <> expected THEN
        RAISE EXCEPTION 'some messages of the batch were already consumed' USING ERRCODE = 'LG001';
    END IF;
    RETURN true;
END
$$;

---- create above / drop below ----

DROP FUNCTION logagg_require_new_messages(bigint, bigint);

DROP TABLE published_counts;
DROP TABLE topic_stats;
DROP TABLE stats_shards;
DROP TABLE dead_letters;
DROP TABLE duplicate_events;
DROP TABLE consumed_messages;
DROP TABLE processed_events;
