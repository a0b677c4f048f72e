/*-------------------------------------------------------------------------
 *
 * compat.h
 *		  Every difference between the PostgreSQL versions mongo_etl builds
 *		  against (15 to 18), as a macro or a small inline wrapper, so that
 *		  no other file needs a PG_VERSION_NUM test.
 *
 * Each wrapper takes the arguments of the oldest version and supplies what
 * newer versions added with the value that keeps the old behaviour.
 *
 * IDENTIFICATION
 *		  compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MONGO_ETL_COMPAT_H
#define MONGO_ETL_COMPAT_H

#include "catalog/pg_collation.h"
#include "commands/explain.h"
#include "commands/vacuum.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/pathnodes.h"
#include "optimizer/pathnode.h"
#include "storage/proc.h"
#include "utils/pg_locale.h"

#if PG_VERSION_NUM >= 160000
#include "optimizer/inherit.h"
#include "parser/parse_relation.h"
#endif
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif

#if PG_VERSION_NUM < 150000
#error "mongo_etl needs PostgreSQL 15 or later"
#endif

/*
 * A function that does not return.  PostgreSQL 18 replaced
 * pg_attribute_noreturn(), written after the declaration, by pg_noreturn,
 * written before it; GCC and Clang take the attribute in front as well.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/* What pg_b64_encode reads: char before 18, uint8 from 18 on */
#if PG_VERSION_NUM >= 180000
typedef uint8 mongo_b64_byte;
#else
typedef char mongo_b64_byte;
#endif

/* The backend's current local transaction id (moved into vxid in 17) */
#if PG_VERSION_NUM >= 170000
#define MONGO_CURRENT_LXID (MyProc->vxid.lxid)
#else
#define MONGO_CURRENT_LXID (MyProc->lxid)
#endif

/*
 * mongo_create_foreignscan_path
 *		create_foreignscan_path without what later versions added: no
 *		fdw_restrictinfo (17) and no disabled nodes (18).
 */
static inline ForeignPath *
mongo_create_foreignscan_path(PlannerInfo *root, RelOptInfo *rel,
							  PathTarget *target, double rows,
							  Cost startup_cost, Cost total_cost,
							  List *pathkeys, Relids required_outer,
							  Path *fdw_outerpath, List *fdw_private)
{
	return create_foreignscan_path(root, rel, target, rows,
#if PG_VERSION_NUM >= 180000
								   0,
#endif
								   startup_cost, total_cost, pathkeys,
								   required_outer, fdw_outerpath,
#if PG_VERSION_NUM >= 170000
								   NIL,
#endif
								   fdw_private);
}

/*
 * mongo_create_foreign_upper_path
 *		create_foreign_upper_path likewise.
 */
static inline ForeignPath *
mongo_create_foreign_upper_path(PlannerInfo *root, RelOptInfo *rel,
								PathTarget *target, double rows,
								Cost startup_cost, Cost total_cost,
								List *pathkeys, Path *fdw_outerpath,
								List *fdw_private)
{
	return create_foreign_upper_path(root, rel, target, rows,
#if PG_VERSION_NUM >= 180000
									 0,
#endif
									 startup_cost, total_cost, pathkeys,
									 fdw_outerpath,
#if PG_VERSION_NUM >= 170000
									 NIL,
#endif
									 fdw_private);
}

/*
 * mongo_create_foreign_join_path
 *		create_foreign_join_path likewise.
 */
static inline ForeignPath *
mongo_create_foreign_join_path(PlannerInfo *root, RelOptInfo *rel,
							   PathTarget *target, double rows,
							   Cost startup_cost, Cost total_cost,
							   List *pathkeys, Relids required_outer,
							   Path *fdw_outerpath, List *fdw_private)
{
	return create_foreign_join_path(root, rel, target, rows,
#if PG_VERSION_NUM >= 180000
									0,
#endif
									startup_cost, total_cost, pathkeys,
									required_outer, fdw_outerpath,
#if PG_VERSION_NUM >= 170000
									NIL,
#endif
									fdw_private);
}

/*
 * mongo_pathkey_descending
 *		Whether a sort key sorts in descending order (18 names the order by
 *		a comparison type instead of a btree strategy).
 */
static inline bool
mongo_pathkey_descending(const PathKey *pathkey)
{
#if PG_VERSION_NUM >= 180000
	return pathkey->pk_cmptype == COMPARE_GT;
#else
	return pathkey->pk_strategy == BTGreaterStrategyNumber;
#endif
}

/*
 * mongo_collation_is_c
 *		Whether a collation is C or POSIX (or, from 17, the builtin
 *		provider's), which compare strings byte by byte or code point by
 *		code point.
 */
static inline bool
mongo_collation_is_c(Oid collation)
{
#if PG_VERSION_NUM >= 180000
	return pg_newlocale_from_collation(collation)->collate_is_c;
#else
	return lc_collate_is_c(collation);
#endif
}

/*
 * mongo_default_collation_provider
 *		The provider of the database's default collation: libc, ICU, or
 *		(17 on) builtin.  Before 18, pg_newlocale_from_collation gives no
 *		locale for a libc default, so the global is read there.
 */
static inline char
mongo_default_collation_provider(void)
{
#if PG_VERSION_NUM >= 180000
	return pg_newlocale_from_collation(DEFAULT_COLLATION_OID)->provider;
#else
	return default_locale.provider;
#endif
}

/*
 * mongo_analyze_delay_point
 *		The cost-based delay of ANALYZE (18 tells VACUUM and ANALYZE apart).
 */
static inline void
mongo_analyze_delay_point(void)
{
#if PG_VERSION_NUM >= 180000
	vacuum_delay_point(true);
#else
	vacuum_delay_point();
#endif
}

/*
 * mongo_init_range_table
 *		An executor state whose range table is one relation, to be inserted
 *		into, as COPY FROM sets it up (16 keeps the permissions apart from
 *		the entry; 18 asks which entries survive pruning: all).
 */
static inline void
mongo_init_range_table(EState *estate, RangeTblEntry *rte)
{
#if PG_VERSION_NUM >= 160000
	List	   *perminfos = NIL;
	RTEPermissionInfo *perminfo = addRTEPermissionInfo(&perminfos, rte);

	perminfo->requiredPerms = ACL_INSERT;
#if PG_VERSION_NUM >= 180000
	ExecInitRangeTable(estate, list_make1(rte), perminfos,
					   bms_make_singleton(1));
#else
	ExecInitRangeTable(estate, list_make1(rte), perminfos);
#endif
#else
	rte->requiredPerms = ACL_INSERT;
	ExecInitRangeTable(estate, list_make1(rte));
#endif
}

/*
 * mongo_plan_user
 *		The role a foreign scan's plan runs as: the owner of the view it was
 *		read through, else the current user (16 moved checkAsUser from the
 *		range table entry into the plan).
 */
static inline Oid
mongo_plan_user(ForeignScan *fsplan, EState *estate, Index rtindex)
{
#if PG_VERSION_NUM >= 160000
	Oid			user = fsplan->checkAsUser;
#else
	Oid			user = exec_rt_fetch(rtindex, estate)->checkAsUser;
#endif

	return OidIsValid(user) ? user : GetUserId();
}

/*
 * mongo_updated_columns
 *		The columns an UPDATE sets, those of generated columns included.
 */
static inline Bitmapset *
mongo_updated_columns(PlannerInfo *root, Index rtindex, RangeTblEntry *rte)
{
#if PG_VERSION_NUM >= 160000
	return get_rel_all_updated_cols(root, find_base_rel(root, rtindex));
#else
	return bms_union(rte->updatedCols, rte->extraUpdatedCols);
#endif
}

/*
 * mongo_insert_index_tuples
 *		A new tuple's index entries, every index maintained (16 added the
 *		summarizing-only flag for HOT updates).
 */
static inline List *
mongo_insert_index_tuples(ResultRelInfo *rri, TupleTableSlot *slot,
						  EState *estate)
{
	return ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL
#if PG_VERSION_NUM >= 160000
								 ,false
#endif
		);
}

#endif							/* MONGO_ETL_COMPAT_H */
