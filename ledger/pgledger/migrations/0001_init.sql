-- The log and the state space. {{schema}} is the quoted schema name.
-- Columns are persisted: never change one's meaning.
--
-- The log has no derived tables: a stream's head is its highest version
-- and the log's head its highest position, each one descent of an index
-- that the constraints need anyway. (Tables of stream heads and of the log
-- head, updated by every append, made each append transaction a quarter
-- slower and were more to verify.)

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

CREATE TABLE {{schema}}.checkpoints (
	name     text   COLLATE "C" PRIMARY KEY,
	position bigint NOT NULL
);

CREATE TABLE {{schema}}.state (
	key   bytea PRIMARY KEY,
	value bytea NOT NULL
);
