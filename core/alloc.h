/* alloc.h: per-shard memory, accounted.
 *
 * Every shard thread allocates its data from its own mimalloc heap
 * (rk_alloc_thread_init). Each thread counts the usable bytes it allocates
 * minus those it frees; INFO's used_memory is the sum over threads. A block
 * freed by another thread than its allocator moves bytes between two
 * counters but keeps the sum right.
 * Under RK_NO_MIMALLOC (sanitizer builds) libc malloc is used instead.
 * All functions return NULL on failure; callers must check. */
#ifndef RK_CORE_ALLOC_H
#define RK_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* Called once at the start of each thread that allocates keyspace data. */
int rk_alloc_thread_init(void);
void *rk_malloc(size_t n);
void *rk_calloc(size_t n);
void *rk_realloc(void *p, size_t n);
void rk_free(void *p);
size_t rk_usable_size(const void *p);
char *rk_memdup(const void *p, size_t n); /* n bytes plus a NUL */
/* Bytes this thread allocated minus freed (may be negative for a thread
 * that frees others' blocks). */
int64_t rk_alloc_thread_used(void);
/* Sum over every thread that ever called rk_alloc_thread_init. */
int64_t rk_alloc_total_used(void);
/* Process RSS in bytes from /proc/self/statm, 0 on failure. */
size_t rk_rss_bytes(void);

/* Testing only: on this thread, after n more successful allocations every
 * rk_malloc/rk_calloc/rk_realloc/rk_memdup returns NULL; n < 0 turns this
 * off again. */
void rk_alloc_fail_after(int64_t n);

#endif
