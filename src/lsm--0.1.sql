/* src/lsm--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lsm" to load this file. \quit

-- Version of the loaded shared library.
CREATE FUNCTION lsm_version()
RETURNS text
AS 'MODULE_PATHNAME', 'lsm_version'
LANGUAGE C STRICT PARALLEL SAFE;

