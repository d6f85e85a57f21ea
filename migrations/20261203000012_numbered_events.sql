-- Events are numbered in their app's stream as they are written, not afterwards.
--
-- Until now a sequencer numbered committed events (app_seq) in a transaction of its own: every
-- event row was inserted, then rewritten with its number, and since app_seq is indexed the
-- rewrite was never a HOT update (a second copy of the row and an entry in each index, then a
-- dead row for vacuum). In join/leave churn that rewrite was a third of Postgres's work.
--
-- Now the statement that writes events takes its apps' counters (`app_sequences`, one row per
-- app) last, after every other lock of its transaction, and writes each event with its number.
-- The counter's row stays locked until the transaction ends, so the next writer of the app
-- numbers after it and commits after it: the numbers an app's readers see are always a gapless
-- prefix, a rolled-back transaction gives its numbers back, and each group's events keep their
-- order (they are written under the group's lock, which every writer takes before the counter).
-- Writers of one app queue only for the counter and their commit, not for their other work.
-- The counter has a table of its own so that the callback dispatcher's bookkeeping in
-- `app_streams` (leases, taken with SKIP LOCKED) never waits for writers, nor they for it.

-- Whatever the sequencer left unnumbered is numbered now, in the order it would have used.
WITH todo AS (
    SELECT e.event_id,
           s.next_seq - 1 + row_number() OVER (PARTITION BY e.app_id ORDER BY e.event_id)
               AS app_seq
    FROM group_events e JOIN app_streams s ON s.app_id = e.app_id
    WHERE e.app_seq IS NULL
), numbered AS (
    UPDATE group_events g SET app_seq = t.app_seq
    FROM todo t WHERE g.event_id = t.event_id
    RETURNING g.app_id
)
UPDATE app_streams s SET next_seq = s.next_seq + c.n
FROM (SELECT app_id, count(*) AS n FROM numbered GROUP BY app_id) c
WHERE s.app_id = c.app_id;

CREATE TABLE app_sequences (
    app_id    TEXT PRIMARY KEY REFERENCES apps (app_id) ON DELETE CASCADE,
    -- the app_seq the app's next event gets
    next_seq  BIGINT NOT NULL DEFAULT 1
);
INSERT INTO app_sequences (app_id, next_seq) SELECT app_id, next_seq FROM app_streams;
ALTER TABLE app_streams DROP COLUMN next_seq;

DROP INDEX group_events_unsequenced_idx;
ALTER TABLE group_events ALTER COLUMN app_seq SET NOT NULL;
