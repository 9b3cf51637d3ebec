-- A batch in one round trip that stays valid when other processes have
-- appended since the committer last looked. The caller holds the append
-- lock (pg_advisory_xact_lock, from a statement before this one, so every
-- statement here sees every append committed before) and has sequenced the
-- rows on its view of the log: the head it knew (base), the versions of
-- the streams it knew (known, known_versions) and no events in the others
-- (absent).
--
-- The view must still hold where the batch depends on it: no event ID of
-- ids is stored, no stream of absent has events, and every stream of known
-- is still at its version (the log may have grown past base). Then the rows
-- are written moved from base to the log's head: positions, append bounds
-- and back-pointers into the batch move by the difference, and the chain
-- hashes are computed again from the head's. Each is SHA-256(previous hash
-- || canonical bytes), the canonical bytes being fmt, the position and the
-- version (8 bytes big endian each, as int8send gives them), the event's
-- e_mid (encoded by the caller exactly as the ledger on Pebble encodes it)
-- and the back-pointer (8 bytes). When the head is still base, the rows are
-- written as they are.
--
-- head_before is the head the rows were written after; null if the view
-- was wrong, and then nothing is written. head_hash is the last row's chain
-- hash when it was computed here, else null.
CREATE FUNCTION {{schema}}.append_rebased(
	base bigint, fmt bytea, e_row {{schema}}.events[], e_mid bytea[], ids uuid[],
	absent text[], known text[], known_versions bigint[],
	OUT head_before bigint, OUT head_hash bytea)
LANGUAGE plpgsql AS $$
DECLARE
	d      bigint;
	h      bytea;
	m      bytea;
	i      integer := 0;
	pos    bigint[];
	ver    bigint[];
	prev   bigint[];
	hashes bytea[] := '{}';
	last   bigint;
BEGIN
	IF EXISTS (SELECT 1 FROM unnest(ids) AS x (id)
			CROSS JOIN LATERAL (SELECT 1 FROM {{schema}}.events ev WHERE ev.id = x.id LIMIT 1) y)
		OR EXISTS (SELECT 1 FROM unnest(absent) AS s (stream)
			CROSS JOIN LATERAL (SELECT 1 FROM {{schema}}.events ev
				WHERE ev.stream = s.stream ORDER BY ev.version LIMIT 1) x) THEN
		RETURN;
	END IF;
	SELECT ev.position, ev.hash INTO last, h FROM {{schema}}.events ev ORDER BY ev.position DESC LIMIT 1;
	last := coalesce(last, 0);
	IF last < base THEN
		RETURN; -- not this log's view
	END IF;
	IF EXISTS (SELECT 1 FROM unnest(known, known_versions) AS s (stream, version)
			LEFT JOIN LATERAL (SELECT ev.version FROM {{schema}}.events ev
				WHERE ev.stream = s.stream ORDER BY ev.version DESC LIMIT 1) x ON true
			WHERE coalesce(x.version, 0) <> s.version) THEN
		RETURN;
	END IF;
	d := last - base;
	IF d = 0 THEN
		INSERT INTO {{schema}}.events SELECT (x).* FROM unnest(e_row) x;
		head_before := last;
		RETURN;
	END IF;
	SELECT array_agg(x.position + d ORDER BY x.n), array_agg(x.version ORDER BY x.n),
		array_agg(CASE WHEN x.prev_pos > base THEN x.prev_pos + d ELSE x.prev_pos END ORDER BY x.n)
		INTO pos, ver, prev
		FROM unnest(e_row) WITH ORDINALITY AS x (position, stream, version, id, type, schema, time, payload,
			prev_pos, hash, append_first, append_last, n);
	FOREACH m IN ARRAY e_mid LOOP
		i := i + 1;
		h := sha256(h || fmt || int8send(pos[i]) || int8send(ver[i]) || m || int8send(prev[i]));
		hashes[i] := h;
	END LOOP;
	INSERT INTO {{schema}}.events
		SELECT x.position + d, x.stream, x.version, x.id, x.type, x.schema, x.time, x.payload,
			CASE WHEN x.prev_pos > base THEN x.prev_pos + d ELSE x.prev_pos END, x.new_hash,
			x.append_first + d, x.append_last + d
		FROM unnest(e_row, hashes) AS x (position, stream, version, id, type, schema, time, payload,
			prev_pos, hash, append_first, append_last, new_hash);
	head_before := last;
	head_hash := h;
END
$$;
