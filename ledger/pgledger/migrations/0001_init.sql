-- The log, its derived tables, and the state space. {{schema}} is the
-- quoted schema name. Columns are persisted: never change one's meaning.

CREATE TABLE {{schema}}.events (
	position     bigint  PRIMARY KEY,            -- global, gap-free, from 1
	stream       text    COLLATE "C" NOT NULL,
	version      bigint  NOT NULL,               -- in its stream, from 1
	id           uuid    NOT NULL UNIQUE,
	type         text    NOT NULL,               -- registered type name
	schema       integer NOT NULL,               -- schema as written (0..65535)
	time         bigint  NOT NULL,               -- Unix nanoseconds
	payload      bytea   NOT NULL,               -- msgpack, as Registry.Encode gives it
	prev_pos     bigint  NOT NULL,               -- the stream's previous event, 0 at version 1
	hash         bytea   NOT NULL,               -- chain hash through this event
	append_first bigint  NOT NULL,               -- positions of the append that wrote it
	append_last  bigint  NOT NULL,
	UNIQUE (stream, version)
);

-- Each stream's last event: derived from events, written in the same transaction.
CREATE TABLE {{schema}}.streams (
	stream   text   COLLATE "C" PRIMARY KEY,
	version  bigint NOT NULL,
	last_pos bigint NOT NULL
);

-- The log's last position and chain hash: one row.
CREATE TABLE {{schema}}.head (
	one      boolean PRIMARY KEY DEFAULT true CHECK (one),
	position bigint  NOT NULL,
	hash     bytea   NOT NULL
);
INSERT INTO {{schema}}.head (position, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

CREATE TABLE {{schema}}.checkpoints (
	name     text   COLLATE "C" PRIMARY KEY,
	position bigint NOT NULL
);

CREATE TABLE {{schema}}.state (
	key   bytea PRIMARY KEY,
	value bytea NOT NULL
);
