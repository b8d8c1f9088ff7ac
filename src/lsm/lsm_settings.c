/*-------------------------------------------------------------------------
 *
 * lsm_settings.c
 *	  Per-table settings of lsm tables: lsm_set_option(), lsm_reset_option()
 *	  and what flushes and compactions read.
 *
 * PostgreSQL 15 gives table access methods no storage parameters of their
 * own (heap's reloptions are parsed for every table AM, and an unknown name
 * is an error), so per-table values of the lsm.* settings below live in the
 * extension's table lsm_table_settings (rel regclass, setting, value).  It
 * is an extension configuration table: pg_dump dumps its rows, and since
 * rel is a regclass they find their tables again by name on restore.  An
 * sql_drop event trigger deletes the rows of dropped tables.  A table
 * without a row for a setting follows the GUC of the same name.
 *
 * Reading.  Each backend keeps the settings of the tables it has used in a
 * hash table, dropped for a table by a relcache invalidation of it (which
 * lsm_set_option and lsm_reset_option send).  Filling an entry scans
 * lsm_table_settings, which takes a lock and may process invalidations, so
 * it happens only where the caller holds no buffer lock and keeps no
 * pointer into the relcache across the call: lsm_settings_load() at the
 * start of an insertion, a flush, a compaction or a VACUUM.  Everywhere
 * else lsm_settings() looks the entry up and falls back to the GUCs if
 * there is none (the table's row may then be ignored until the next load,
 * a matter of one decision, never of correctness).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "lsm/lsm_internal.h"

PG_FUNCTION_INFO_V1(lsm_set_option);
PG_FUNCTION_INFO_V1(lsm_reset_option);

/* The settings a table may override, with the GUC each one follows. */
typedef struct LsmSettingDef
{
	const char *name;			/* without the "lsm." prefix */
	int			min;
	int			max;
	int		   *guc;			/* the GUC variable */
	size_t		field;			/* offset in LsmSettings */
	const struct config_enum_entry *names;	/* an enum's values, or NULL */
} LsmSettingDef;

static const LsmSettingDef lsm_setting_defs[] = {
	{"memtable_flush_pages", 0, INT_MAX / 2, &lsm_memtable_flush_pages,
	offsetof(LsmSettings, memtable_flush_pages), NULL},
	{"memtable_flush_overlay_pages", 0, INT_MAX / 2,
		&lsm_memtable_flush_overlay_pages,
	offsetof(LsmSettings, memtable_flush_overlay_pages), NULL},
	{"compaction_policy", LSM_POLICY_LEVELED, LSM_POLICY_TIERED,
		&lsm_compaction_policy, offsetof(LsmSettings, compaction_policy),
	lsm_policy_options},
	{"compaction_size_ratio", 2, 100, &lsm_compaction_size_ratio,
	offsetof(LsmSettings, compaction_size_ratio), NULL},
	{"compaction_max_runs", 0, 100, &lsm_compaction_max_runs,
	offsetof(LsmSettings, compaction_max_runs), NULL},
	{"compaction_max_levels", 0, LSM_MAX_LEVEL, &lsm_compaction_max_levels,
	offsetof(LsmSettings, compaction_max_levels), NULL},
	{"bloom_bits_per_key", 0, 64, &lsm_bloom_bits_per_key,
	offsetof(LsmSettings, bloom_bits_per_key), NULL},
	{"compression", LSM_COMPRESSION_NONE, LSM_COMPRESSION_LZ4, &lsm_compression,
	offsetof(LsmSettings, compression), lsm_compression_options},
};

#define LSM_NSETTINGS lengthof(lsm_setting_defs)

/* One table's overrides, as loaded from lsm_table_settings. */
typedef struct LsmSettingsEntry
{
	Oid			relid;			/* hash key */
	uint32		set_mask;		/* bit i: lsm_setting_defs[i] is overridden */
	int			values[LSM_NSETTINGS];
} LsmSettingsEntry;

static HTAB *lsm_settings_hash = NULL;

/* relcache callback: forget one table's settings, or all */
static void
lsm_settings_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	LsmSettingsEntry *e;

	if (lsm_settings_hash == NULL)
		return;
	if (OidIsValid(relid))
	{
		(void) hash_search(lsm_settings_hash, &relid, HASH_REMOVE, NULL);
		return;
	}
	hash_seq_init(&status, lsm_settings_hash);
	while ((e = hash_seq_search(&status)) != NULL)
		(void) hash_search(lsm_settings_hash, &e->relid, HASH_REMOVE, NULL);
}

/* Create the hash table and register the callback, once per backend. */
static void
lsm_settings_init(void)
{
	HASHCTL		ctl;

	if (lsm_settings_hash != NULL)
		return;
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(LsmSettingsEntry);
	ctl.hcxt = CacheMemoryContext;
	lsm_settings_hash = hash_create("lsm table settings", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(lsm_settings_invalidate, (Datum) 0);
}

/* Index of a setting by name, or -1. */
static int
lsm_setting_index(const char *name)
{
	if (strncmp(name, "lsm.", 4) == 0)
		name += 4;
	for (int i = 0; i < (int) LSM_NSETTINGS; i++)
		if (strcmp(lsm_setting_defs[i].name, name) == 0)
			return i;
	return -1;
}

/* Parse a value of setting i into *result; false if it is not valid. */
static bool
lsm_setting_try_parse(int i, const char *value, int *result)
{
	const LsmSettingDef *def = &lsm_setting_defs[i];
	char	   *end;
	long		v;

	if (def->names != NULL)
	{
		for (const struct config_enum_entry *e = def->names; e->name; e++)
		{
			if (pg_strcasecmp(value, e->name) == 0)
			{
				*result = e->val;
				return true;
			}
		}
		return false;
	}
	errno = 0;
	v = strtol(value, &end, 10);
	while (*end == ' ')
		end++;
	if (errno != 0 || end == value || *end != '\0' || v < def->min || v > def->max)
		return false;
	*result = (int) v;
	return true;
}

/* The names of an enum setting's values, "a, b" (for hints). */
static char *
lsm_setting_value_names(const LsmSettingDef *def)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const struct config_enum_entry *e = def->names; e->name; e++)
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", e->name);
	return buf.data;
}

/* The names of the settings a table may have, "a, b" (for hints). */
static char *
lsm_setting_names(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < (int) LSM_NSETTINGS; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "",
						 lsm_setting_defs[i].name);
	return buf.data;
}

/*
 * lsm_enum_name -- the name of value v in the table of values of enum
 * setting what (a GUC and per-table setting).
 */
const char *
lsm_enum_name(const struct config_enum_entry *names, int v, const char *what)
{
	for (const struct config_enum_entry *e = names; e->name; e++)
		if (e->val == v)
			return e->name;
	elog(ERROR, "unknown value %d of lsm setting \"%s\"", v, what);
	return NULL;				/* keep the compiler quiet */
}

/* Parse and check a value of setting i; ereport if bad. */
static int
lsm_setting_parse(int i, const char *value)
{
	const LsmSettingDef *def = &lsm_setting_defs[i];
	int			v;

	if (lsm_setting_try_parse(i, value, &v))
		return v;
	if (def->names != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for lsm setting \"%s\": \"%s\"",
						def->name, value),
				 errhint("Available values: %s.", lsm_setting_value_names(def))));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for lsm setting \"%s\": \"%s\"",
					def->name, value),
			 errhint("An integer between %d and %d is expected.",
					 def->min, def->max)));
	return 0;					/* keep the compiler quiet */
}

/* The OID of lsm_table_settings, or InvalidOid (extension being made). */
static Oid
lsm_settings_table_oid(void)
{
	Oid			extoid = get_extension_oid("lsm", true);
	Oid			nsp = InvalidOid;
	Relation	extrel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	if (!OidIsValid(extoid))
		return InvalidOid;
	/* the extension's schema (PostgreSQL 15 exports no function for it) */
	extrel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(extrel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(extrel, AccessShareLock);
	if (!OidIsValid(nsp))
		return InvalidOid;
	return get_relname_relid("lsm_table_settings", nsp);
}

/*
 * lsm_settings_load -- make sure this backend has rel's settings (see the
 * file header: only where no buffer lock is held).
 */
void
lsm_settings_load(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	Oid			tableoid;
	LsmSettingsEntry local;
	LsmSettingsEntry *e;
	bool		found;

	lsm_settings_init();
	if (hash_search(lsm_settings_hash, &relid, HASH_FIND, NULL) != NULL)
		return;

	memset(&local, 0, sizeof(local));
	local.relid = relid;
	tableoid = lsm_settings_table_oid();
	if (OidIsValid(tableoid))
	{
		Relation	srel = table_open(tableoid, AccessShareLock);
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;
		TupleDesc	desc = RelationGetDescr(srel);

		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(relid));
		scan = systable_beginscan(srel, InvalidOid, false, NULL, 1, &key);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		name = heap_getattr(tup, 2, desc, &isnull);
			Datum		value;
			int			i;

			if (isnull)
				continue;
			i = lsm_setting_index(TextDatumGetCString(name));
			value = heap_getattr(tup, 3, desc, &isnull);
			if (i < 0 || isnull)
				continue;		/* a row for a setting this build lacks */
			if (lsm_setting_try_parse(i, TextDatumGetCString(value),
									  &local.values[i]))
				local.set_mask |= 1U << i;
			else				/* lsm_set_option checks: written by hand */
				ereport(WARNING,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("ignoring invalid lsm setting \"%s\" of \"%s\"",
								lsm_setting_defs[i].name,
								RelationGetRelationName(rel))));
		}
		systable_endscan(scan);
		table_close(srel, AccessShareLock);
	}

	/* the scan may have processed invalidations: enter the result now */
	e = hash_search(lsm_settings_hash, &relid, HASH_ENTER, &found);
	*e = local;
}

/*
 * lsm_settings -- the settings in force for rel: its own where it has
 * them (if loaded), the GUCs otherwise.
 */
LsmSettings
lsm_settings(Relation rel)
{
	LsmSettings s;
	LsmSettingsEntry *e = NULL;
	Oid			relid = RelationGetRelid(rel);

	if (lsm_settings_hash != NULL)
		e = hash_search(lsm_settings_hash, &relid, HASH_FIND, NULL);
	for (int i = 0; i < (int) LSM_NSETTINGS; i++)
	{
		int		   *field = (int *) ((char *) &s + lsm_setting_defs[i].field);

		*field = (e != NULL && (e->set_mask & (1U << i))) ?
			e->values[i] : *lsm_setting_defs[i].guc;
	}
	return s;
}

/* Check that the caller may change rel's settings; lock it meanwhile. */
static void
lsm_settings_check_rel(Oid relid)
{
	table_close(lsm_open_owned(relid, ShareUpdateExclusiveLock), NoLock);
}

/* The owner of a relation. */
static Oid
lsm_rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Run one statement on lsm_table_settings as the owner of that table (the
 * caller owns the lsm table but has no rights on the extension's table).
 */
static void
lsm_settings_write(const char *sql, int nargs, Oid *types, Datum *values)
{
	Oid			tableoid = lsm_settings_table_oid();
	Oid			save_userid;
	int			save_sec_context;
	char	   *query;

	if (!OidIsValid(tableoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the table lsm_table_settings of the lsm extension is missing")));
	query = psprintf(sql, quote_qualified_identifier(get_namespace_name(get_rel_namespace(tableoid)),
													 "lsm_table_settings"));
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(lsm_rel_owner(tableoid),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(query, nargs, types, values, NULL, false, 0) < 0)
		elog(ERROR, "could not update lsm_table_settings");
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * lsm_set_option(rel regclass, setting text, value text) -- give an lsm
 * table its own value of an lsm.* setting.
 */
Datum
lsm_set_option(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *value = text_to_cstring(PG_GETARG_TEXT_PP(2));
	int			i = lsm_setting_index(name);
	Oid			types[3] = {REGCLASSOID, TEXTOID, TEXTOID};
	Datum		values[3];
	int			v;

	if (i < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unrecognized lsm setting \"%s\"", name),
				 errhint("Per-table settings: %s.", lsm_setting_names())));
	v = lsm_setting_parse(i, value);
	lsm_settings_check_rel(relid);

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(lsm_setting_defs[i].name);
	/* stored normalized */
	if (lsm_setting_defs[i].names != NULL)
		values[2] = CStringGetTextDatum(lsm_enum_name(lsm_setting_defs[i].names, v,
													 lsm_setting_defs[i].name));
	else
		values[2] = CStringGetTextDatum(psprintf("%d", v));
	lsm_settings_write("INSERT INTO %s AS s (rel, setting, value) VALUES ($1, $2, $3)"
					   " ON CONFLICT (rel, setting) DO UPDATE SET value = EXCLUDED.value",
					   3, types, values);
	CacheInvalidateRelcacheByRelid(relid);
	PG_RETURN_VOID();
}

/*
 * lsm_reset_option(rel regclass, setting text DEFAULT NULL) -- back to the
 * GUC for one setting, or for all of them (NULL).
 */
Datum
lsm_reset_option(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			types[2] = {REGCLASSOID, TEXTOID};
	Datum		values[2];

	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	relid = PG_GETARG_OID(0);
	lsm_settings_check_rel(relid);
	values[0] = ObjectIdGetDatum(relid);
	if (PG_ARGISNULL(1))
		lsm_settings_write("DELETE FROM %s WHERE rel = $1", 1, types, values);
	else
	{
		char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
		int			i = lsm_setting_index(name);

		if (i < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("unrecognized lsm setting \"%s\"", name)));
		values[1] = CStringGetTextDatum(lsm_setting_defs[i].name);
		lsm_settings_write("DELETE FROM %s WHERE rel = $1 AND setting = $2",
						   2, types, values);
	}
	CacheInvalidateRelcacheByRelid(relid);
	PG_RETURN_VOID();
}
