--
-- lsm_toast: large values go through the (heap) TOAST table of an lsm
-- table and come back unchanged.
--
SET default_toast_compression = 'pglz';

-- live chunks in the TOAST table of a table, and distinct values there
CREATE FUNCTION toast_chunks(rel regclass, OUT chunks bigint, OUT vals bigint)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SELECT count(*), count(DISTINCT chunk_id) FROM %s',
                 (SELECT reltoastrelid::regclass FROM pg_class WHERE oid = rel))
    INTO chunks, vals;
END $$;

CREATE TABLE toast_t (id int, note text, big text, bin bytea) USING lsm;

-- the TOAST table exists and is a heap table
SELECT t.relkind, a.amname AS toast_am
  FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid
  JOIN pg_am a ON a.oid = t.relam
 WHERE c.oid = 'toast_t'::regclass;

-- 1: compressible text of 2 MB
INSERT INTO toast_t VALUES (1, 'compressible', repeat('abcdefgh', 262144), NULL);
-- 2: incompressible bytea of 1.6 MB (md5 output as bytes)
INSERT INTO toast_t
  SELECT 2, 'incompressible', NULL,
         decode(string_agg(md5(g::text), '' ORDER BY g), 'hex')
    FROM generate_series(1, 100000) g;
-- 3: incompressible text (hex digits) of 1.3 MB, and a compressible bytea
INSERT INTO toast_t
  SELECT 3, 'both', string_agg(md5(g::text), '' ORDER BY g),
         convert_to(repeat('xyz', 500000), 'UTF8')
    FROM generate_series(1, 40000) g;
-- 4: small values stay inline; 5: a medium value is compressed inline
INSERT INTO toast_t VALUES (4, 'small', 'tiny', '\x0102');
INSERT INTO toast_t VALUES (5, 'medium', repeat('m', 5000), NULL);

SELECT id, note, length(big), octet_length(bin),
       pg_column_compression(big) AS big_comp,
       pg_column_compression(bin) AS bin_comp
  FROM toast_t ORDER BY id;
SELECT id, md5(big) AS big_md5, md5(bin) AS bin_md5 FROM toast_t ORDER BY id;
SELECT md5(big) = md5(repeat('abcdefgh', 262144)) AS same FROM toast_t WHERE id = 1;
SELECT substr(big, 1000000, 16), substr(bin, 1000000, 4) FROM toast_t
 WHERE id IN (1, 2) ORDER BY id;
SELECT vals FROM toast_chunks('toast_t');
CREATE TEMP TABLE toast_chunks_before AS SELECT * FROM toast_chunks('toast_t');

-- UPDATE of another column keeps the values, and does not copy them again
UPDATE toast_t SET note = note || ' (updated)' WHERE id IN (1, 2, 3);
SELECT id, note, md5(big) AS big_md5, md5(bin) AS bin_md5
  FROM toast_t ORDER BY id;
SELECT c.chunks = b.chunks AS same_chunks, c.vals = b.vals AS same_vals
  FROM toast_chunks('toast_t') c, toast_chunks_before b;

-- UPDATE of the large column
UPDATE toast_t SET big = big || 'tail' WHERE id = 1;
SELECT length(big), right(big, 12), md5(big) = md5(repeat('abcdefgh', 262144) || 'tail') AS ok
  FROM toast_t WHERE id = 1;
-- a large column updated several times in one transaction, then rolled back
BEGIN;
UPDATE toast_t SET bin = bin || '\xff'::bytea WHERE id = 2;
UPDATE toast_t SET bin = bin || '\xee'::bytea WHERE id = 2;
SELECT octet_length(bin), substr(bin, octet_length(bin) - 1) FROM toast_t WHERE id = 2;
ROLLBACK;
SELECT octet_length(bin), md5(bin) FROM toast_t WHERE id = 2;
-- a large value moved between rows
UPDATE toast_t t SET bin = s.bin FROM toast_t s WHERE t.id = 4 AND s.id = 3;
SELECT id, md5(bin) FROM toast_t WHERE id IN (3, 4) ORDER BY id;
SELECT vals FROM toast_chunks('toast_t');

-- DELETE: the chunks are gone
DELETE FROM toast_t WHERE id IN (2, 4);
SELECT vals FROM toast_chunks('toast_t');
VACUUM toast_t;
SELECT vals FROM toast_chunks('toast_t');
SELECT id, note, md5(big) AS big_md5, md5(bin) AS bin_md5 FROM toast_t ORDER BY id;
SELECT lsm_check('toast_t');

-- VACUUM FULL rewrites the table and its TOAST table
VACUUM FULL toast_t;
SELECT id, note, md5(big) AS big_md5, md5(bin) AS bin_md5 FROM toast_t ORDER BY id;
SELECT lsm_check('toast_t');

-- ---------------------------------------------------------------------
-- storage strategies
-- ---------------------------------------------------------------------
CREATE TABLE toast_s (id int, v text) USING lsm;
ALTER TABLE toast_s ALTER COLUMN v SET STORAGE external;
INSERT INTO toast_s VALUES (1, repeat('e', 100000));
ALTER TABLE toast_s ALTER COLUMN v SET STORAGE main;
INSERT INTO toast_s VALUES (2, repeat('m', 100000));
-- main: incompressible values that do not fit still go out of line
INSERT INTO toast_s SELECT 3, string_agg(md5(g::text), '') FROM generate_series(1, 1000) g;
ALTER TABLE toast_s ALTER COLUMN v SET STORAGE plain;
INSERT INTO toast_s VALUES (4, repeat('p', 1000));
ALTER TABLE toast_s ALTER COLUMN v SET STORAGE extended;
INSERT INTO toast_s VALUES (5, repeat('x', 100000));
SELECT attstorage FROM pg_attribute
 WHERE attrelid = 'toast_s'::regclass AND attname = 'v';
SELECT id, length(v), pg_column_compression(v), left(v, 3), md5(v)
  FROM toast_s ORDER BY id;
SELECT vals FROM toast_chunks('toast_s');
-- external values are sliced without detoasting everything
SELECT substr(v, 99990, 5) FROM toast_s WHERE id = 1;
-- compression method per column
ALTER TABLE toast_s ALTER COLUMN v SET COMPRESSION pglz;
UPDATE toast_s SET v = v || '!' WHERE id = 5;
SELECT id, length(v), pg_column_compression(v) FROM toast_s WHERE id = 5;
SELECT lsm_check('toast_s');

-- an index on a toasted column's expression, used after updates
CREATE INDEX toast_s_md5 ON toast_s (md5(v));
SET enable_seqscan = off;
SELECT id FROM toast_s WHERE md5(v) = md5(repeat('m', 100000));
RESET enable_seqscan;

DROP TABLE toast_t, toast_s;
DROP FUNCTION toast_chunks(regclass);
RESET default_toast_compression;
