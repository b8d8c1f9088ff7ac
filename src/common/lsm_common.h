/*-------------------------------------------------------------------------
 *
 * lsm_common.h
 *	  Declarations shared by every part of the lsm extension: version,
 *	  module initialisation and small helpers in src/common/.
 *
 * Audience: all .c files of the extension.  Nothing here describes an
 * on-disk format; those live in each access method's *_page.h header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LSM_COMMON_H
#define LSM_COMMON_H

#include "utils/relcache.h"

#define LSM_VERSION_STRING	"0.1"

/* lsm_module.c */
extern void _PG_init(void);

/* lsm_hooks.c */
extern void lsm_init_hooks(void);

/* src/lsm/lsm_flush.c: GUCs of the lsm table access method */
extern void lsm_tam_init_gucs(void);

/* lsm_conflict.c */
extern void lsm_log_conflict_horizon(Relation rel,
									 TransactionId latestRemovedXid);

#endif							/* LSM_COMMON_H */
