/*-------------------------------------------------------------------------
 *
 * xh_handler.c
 *	  The xhash index access method's handler (its IndexAmRoutine), its
 *	  reloptions, the operator class validator and the names of its build
 *	  phases.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "parser/parse_coerce.h"
#include "utils/fmgroids.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "xhash/xhash.h"

PG_FUNCTION_INFO_V1(xhashhandler);

/* reloption kind, registered the first time options are parsed */
static relopt_kind xh_relopt_kind;
static bool xh_relopts_ready = false;

/*
 * xhashhandler -- SQL-callable: the IndexAmRoutine of xhash.
 */
Datum
xhashhandler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = XHASH_NSTRATEGIES;
	amroutine->amsupport = XHASH_NPROCS;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = false;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = true;
	amroutine->amcanmulticol = true;
	amroutine->amoptionalkey = false;
	amroutine->amsearcharray = false;
	amroutine->amsearchnulls = false;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = true;
	amroutine->amcanparallel = false;
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = true;
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = xhbuild;
	amroutine->ambuildempty = xhbuildempty;
	amroutine->aminsert = xhinsert;
	amroutine->ambulkdelete = xhbulkdelete;
	amroutine->amvacuumcleanup = xhvacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = xhcostestimate;
	amroutine->amoptions = xhoptions;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = xhbuildphasename;
	amroutine->amvalidate = xhvalidate;
	amroutine->amadjustmembers = NULL;
	amroutine->ambeginscan = xhbeginscan;
	amroutine->amrescan = xhrescan;
	amroutine->amgettuple = xhgettuple;
	amroutine->amgetbitmap = xhgetbitmap;
	amroutine->amendscan = xhendscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;

	PG_RETURN_POINTER(amroutine);
}

/*
 * xhoptions -- parse and validate the reloptions of an xhash index.
 *
 * The reloption kind is registered lazily, so that the library needs no
 * preloading: the handler (and hence this function) always runs before
 * options are parsed in a backend.
 */
bytea *
xhoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"fillfactor", RELOPT_TYPE_INT, offsetof(XhOptions, fillfactor)},
	};

	if (!xh_relopts_ready)
	{
		xh_relopt_kind = add_reloption_kind();
		add_int_reloption(xh_relopt_kind, "fillfactor",
						  "Packs xhash bucket pages at build only to this percentage",
						  XHASH_DEFAULT_FILLFACTOR, XHASH_MIN_FILLFACTOR, 100,
						  AccessExclusiveLock);
		xh_relopts_ready = true;
	}
	return (bytea *) build_reloptions(reloptions, validate, xh_relopt_kind,
									  sizeof(XhOptions), tab, lengthof(tab));
}

/*
 * xhbuildphasename -- name of a CREATE INDEX progress phase.
 */
char *
xhbuildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case XHASH_PHASE_SCAN:
			return "scanning table";
		case XHASH_PHASE_SORT:
			return "sorting hashes";
		case XHASH_PHASE_WRITE:
			return "writing buckets";
		default:
			return NULL;
	}
}

/*
 * xh_check_proc_signature -- is "funcid" an acceptable support function 1
 * for "argtype": (argtype, int8) -> int8?  Like core hash, accept the
 * built-in functions that are physically compatible with the type without
 * being declared for it (hashcharextended for bool and so on).
 */
static bool
xh_check_proc_signature(Oid funcid, Oid argtype)
{
	HeapTuple	tp;
	Form_pg_proc procform;
	bool		result = true;

	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for function %u", funcid);
	procform = (Form_pg_proc) GETSTRUCT(tp);

	if (procform->prorettype != INT8OID || procform->proretset ||
		procform->pronargs != 2 || procform->proargtypes.values[1] != INT8OID)
		result = false;
	else if (!IsBinaryCoercible(argtype, procform->proargtypes.values[0]))
	{
		if (funcid == F_HASHINT4EXTENDED && argtype == DATEOID)
			 /* ok */ ;
		else if (funcid == F_TIMESTAMP_HASH_EXTENDED && argtype == TIMESTAMPTZOID)
			 /* ok */ ;
		else if (funcid == F_HASHCHAREXTENDED && argtype == BOOLOID)
			 /* ok */ ;
		else if (funcid == F_HASHVARLENAEXTENDED && argtype == BYTEAOID)
			 /* ok */ ;
		else
			result = false;
	}
	ReleaseSysCache(tp);
	return result;
}

/*
 * xhvalidate -- check an xhash operator class (and the parts of its
 * family it depends on).
 *
 * Rules: support function 1 is (type, int8) -> int8 with equal left and
 * right types; operator 1 is a boolean search operator; the opclass has
 * function 1 for its input type and the operator (type, type); every
 * cross-type operator has hash functions for both of its types.
 */
bool
xhvalidate(Oid opclassoid)
{
	bool		result = true;
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	Oid			opcintype;
	char	   *opclassname;
	HeapTuple	familytup;
	Form_pg_opfamily familyform;
	char	   *opfamilyname;
	CatCList   *proclist,
			   *oprlist;
	List	   *hashable = NIL;
	bool		has_proc = false;
	bool		has_op = false;
	int			i;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;
	opcintype = classform->opcintype;
	opclassname = NameStr(classform->opcname);

	familytup = SearchSysCache1(OPFAMILYOID, ObjectIdGetDatum(opfamilyoid));
	if (!HeapTupleIsValid(familytup))
		elog(ERROR, "cache lookup failed for operator family %u", opfamilyoid);
	familyform = (Form_pg_opfamily) GETSTRUCT(familytup);
	opfamilyname = NameStr(familyform->opfname);

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));

	for (i = 0; i < proclist->n_members; i++)
	{
		HeapTuple	proctup = &proclist->members[i]->tuple;
		Form_pg_amproc procform = (Form_pg_amproc) GETSTRUCT(proctup);

		if (procform->amprocnum != XHASH_EXTENDED_PROC ||
			procform->amproclefttype != procform->amprocrighttype)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains invalid support function %s with number %d",
							opfamilyname, "xhash",
							format_procedure(procform->amproc),
							procform->amprocnum)));
			result = false;
			continue;
		}
		if (!xh_check_proc_signature(procform->amproc, procform->amproclefttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains function %s with wrong signature for support number %d",
							opfamilyname, "xhash",
							format_procedure(procform->amproc),
							procform->amprocnum)));
			result = false;
			continue;
		}
		hashable = list_append_unique_oid(hashable, procform->amproclefttype);
		if (procform->amproclefttype == opcintype)
			has_proc = true;
	}

	for (i = 0; i < oprlist->n_members; i++)
	{
		HeapTuple	oprtup = &oprlist->members[i]->tuple;
		Form_pg_amop oprform = (Form_pg_amop) GETSTRUCT(oprtup);

		if (oprform->amopstrategy != XHASH_EQUAL_STRATEGY ||
			oprform->amoppurpose != AMOP_SEARCH ||
			OidIsValid(oprform->amopsortfamily) ||
			!check_amop_signature(oprform->amopopr, BOOLOID,
								  oprform->amoplefttype,
								  oprform->amoprighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains invalid operator %s",
							opfamilyname, "xhash",
							format_operator(oprform->amopopr))));
			result = false;
			continue;
		}
		if (!list_member_oid(hashable, oprform->amoplefttype) ||
			!list_member_oid(hashable, oprform->amoprighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s lacks support function for operator %s",
							opfamilyname, "xhash",
							format_operator(oprform->amopopr))));
			result = false;
		}
		if (oprform->amoplefttype == opcintype &&
			oprform->amoprighttype == opcintype)
			has_op = true;
	}

	if (!has_proc || !has_op)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("operator class \"%s\" of access method %s is missing support function %d or operator %d",
						opclassname, "xhash", XHASH_EXTENDED_PROC,
						XHASH_EQUAL_STRATEGY)));
		result = false;
	}

	ReleaseCatCacheList(proclist);
	ReleaseCatCacheList(oprlist);
	ReleaseSysCache(familytup);
	ReleaseSysCache(classtup);

	return result;
}
