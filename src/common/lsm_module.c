/*-------------------------------------------------------------------------
 *
 * lsm_module.c
 *	  Entry point of the lsm shared library: module magic, _PG_init and
 *	  the functions that describe the extension itself.
 *
 * Everything the extension offers works after CREATE EXTENSION alone; the
 * library does not need shared_preload_libraries.  _PG_init therefore only
 * registers things that are safe to register late in a backend's life:
 * GUCs (custom, PGC_USERSET or PGC_SUSET) and backend-local hooks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "common/lsm_common.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(lsm_version);

/*
 * _PG_init -- called once when the library is loaded into a backend.
 */
void
_PG_init(void)
{
	lsm_tam_init_gucs();
	lsm_init_hooks();
}

/*
 * lsm_version -- SQL-callable: the version of the loaded library.
 *
 * Compare with pg_extension.extversion to detect a library that does not
 * match the installed SQL objects.
 */
Datum
lsm_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(LSM_VERSION_STRING));
}
