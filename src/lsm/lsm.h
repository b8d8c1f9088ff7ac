/*-------------------------------------------------------------------------
 *
 * lsm.h
 *	  Public declarations of the lsm table access method: what other parts
 *	  of the extension (index access methods, hooks, SQL functions) may
 *	  use.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LSM_H
#define LSM_H

#include "fmgr.h"
#include "utils/relcache.h"

/* lsm_handler.c */
extern Datum lsm_tableam_handler(PG_FUNCTION_ARGS);
extern bool lsm_is_lsm_relation(Relation rel);
extern void lsm_check_is_lsm(Relation rel);

/* lsm_executor.c */
extern void lsm_install_executor_hooks(void);

#endif							/* LSM_H */
