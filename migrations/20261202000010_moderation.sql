-- Moderation: each group's mute state, and its changes in the group's message stream.
--
-- mute_all: the whole group is muted, except exempt_users; muted_users are muted one by one,
-- whatever mute_all says. The group's creator and administrators are never muted. A change is
-- written into the group's message stream (kind 3, the new state as JSON in body) under the
-- stream's head lock, so it is ordered with the messages: a client message that commits after a
-- change has been checked against it.

ALTER TABLE groups
    ADD COLUMN mute_all BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN muted_users TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN exempt_users TEXT[] NOT NULL DEFAULT '{}';

-- kind: 1 message, 2 recall, 3 mute change.
ALTER TABLE group_messages DROP CONSTRAINT group_messages_kind_check;
ALTER TABLE group_messages ADD CONSTRAINT group_messages_kind_check CHECK (kind IN (1, 2, 3));

-- Kicks: event kind 15, after the kicked user's leave.
ALTER TABLE group_events DROP CONSTRAINT group_events_kind_check;
ALTER TABLE group_events ADD CONSTRAINT group_events_kind_check CHECK (kind BETWEEN 1 AND 15);
