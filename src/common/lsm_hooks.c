/*-------------------------------------------------------------------------
 *
 * lsm_hooks.c
 *	  Backend-local hooks installed when the library is loaded.
 *
 * Each access method registers its hooks here so that _PG_init stays a
 * single call.  Hooks are conveniences and safety nets; nothing that is
 * needed for correct results depends on the library being preloaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/lsm_common.h"
#include "lsm/lsm.h"

/*
 * lsm_init_hooks -- install all backend-local hooks (idempotent).
 */
void
lsm_init_hooks(void)
{
	static bool done = false;

	if (done)
		return;
	done = true;

	lsm_install_executor_hooks();
}
