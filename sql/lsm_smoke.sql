--
-- lsm_smoke: the extension installs, reports its version, lists exactly
-- the objects it owns, and can be dropped and created again.
--
-- The test runner creates the extension in the test database before any
-- test runs (pg_regress --load-extension=lsm); check that first.
--
SELECT extname, extversion, extrelocatable
  FROM pg_extension WHERE extname = 'lsm';

-- The library is loaded on demand: no shared_preload_libraries needed.
SELECT current_setting('shared_preload_libraries') = '' AS no_preload;

-- Start from scratch.
DROP EXTENSION lsm;
SELECT count(*) AS lsm_extensions FROM pg_extension WHERE extname = 'lsm';
SELECT lsm_version();  -- fails: the function went away with the extension

CREATE EXTENSION lsm;

SELECT lsm_version();
SELECT lsm_version() = '0.1' AS version_ok;

-- The library and the SQL objects agree on the version.
SELECT lsm_version() = extversion AS library_matches_sql
  FROM pg_extension WHERE extname = 'lsm';

-- Everything the extension owns (update this list when objects are added).
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS object
  FROM pg_depend d
  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass
                     AND d.refobjid = e.oid
 WHERE e.extname = 'lsm' AND d.deptype = 'e'
 ORDER BY 1;

-- Access methods provided so far (lsm, xhash, zonemap, bitmap once built).
SELECT amname, amtype
  FROM pg_am
 WHERE amname IN ('lsm', 'xhash', 'zonemap', 'bitmap')
 ORDER BY amname;

-- The extension is listed as available, with the installed version.
SELECT name, default_version, installed_version, comment IS NOT NULL AS has_comment
  FROM pg_available_extensions WHERE name = 'lsm';
SELECT name, version, installed, superuser, trusted, relocatable
  FROM pg_available_extension_versions WHERE name = 'lsm';

-- Creating it twice fails; IF NOT EXISTS only notices.
CREATE EXTENSION lsm;
CREATE EXTENSION IF NOT EXISTS lsm;

-- Drop and create again, in one transaction, and roll it back.
BEGIN;
DROP EXTENSION lsm;
SELECT count(*) AS lsm_extensions FROM pg_extension WHERE extname = 'lsm';
CREATE EXTENSION lsm;
SELECT lsm_version();
ROLLBACK;

-- Drop and create again for good; later tests rely on it being there.
DROP EXTENSION lsm;
CREATE EXTENSION lsm;
SELECT lsm_version();

-- The function is usable from an ordinary SQL context.
SELECT v, v = lsm_version() AS same
  FROM (SELECT lsm_version() AS v FROM generate_series(1, 3)) s;
