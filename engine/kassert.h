/* SPDX-License-Identifier: MIT */
/*
 * kassert.h: assertions that catch the engine's own bugs.
 *
 * kdb_assert() stays in release builds (NDEBUG does not remove it): it prints
 * file, line and expression to stderr and aborts. Keep it O(1). O(n) checks
 * use kdb_debug_assert(), compiled only with KDB_DEBUG=1. Bytes from disk,
 * the kernel or a caller are never asserted: they are checked and returned
 * as errors.
 */
#ifndef KDB_ENGINE_KASSERT_H
#define KDB_ENGINE_KASSERT_H

#include <assert.h> /* static_assert */

/* Prints the failed assertion and aborts; never returns. */
_Noreturn void kdb_assert_fail(const char *expr, const char *file, int line);

#define kdb_assert(e) ((e) ? (void)0 : kdb_assert_fail(#e, __FILE__, __LINE__))

#if defined(KDB_DEBUG) && KDB_DEBUG
#define kdb_debug_assert(e) kdb_assert(e)
#else
#define kdb_debug_assert(e) ((void)0)
#endif

#endif /* KDB_ENGINE_KASSERT_H */
