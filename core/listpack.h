/* listpack.h: Redis's listpack, byte for byte (the layout RDB 10 stores for
 * small lists, hashes, sets and sorted sets), used as their compact encoding.
 *
 * Layout: <total-bytes u32 LE><num-elements u16 LE> <entry>... <0xFF>.
 * Each entry: <encoding+data><backlen>. Integers that fit are stored as
 * integers (7-bit uint, 13/16/24/32/64-bit int), strings with a 6-, 12- or
 * 32-bit length. num-elements is 65535 when unknown (count by walking).
 *
 * Owner: the shard that owns the value. Functions that change a listpack may
 * move it: they return the new pointer, or NULL on allocation failure with
 * the old one intact. Entry pointers (unsigned char *p) are valid until the
 * next change. Allocation through rk_malloc (core/alloc.h). */
#ifndef RK_CORE_LISTPACK_H
#define RK_CORE_LISTPACK_H

#include <stddef.h>
#include <stdint.h>

#define LP_HDR_SIZE 6
#define LP_EOF 0xFF
enum { LP_BEFORE = 0, LP_AFTER = 1, LP_REPLACE = 2 };

/* One decoded entry: a string (sval != NULL) or an integer (sval == NULL). */
typedef struct lp_value {
    const unsigned char *sval;
    uint32_t slen;
    long long lval;
} lp_value;

unsigned char *lp_new(size_t capacity);
void lp_free(unsigned char *lp);
size_t lp_bytes(const unsigned char *lp);
unsigned long lp_length(const unsigned char *lp);
unsigned char *lp_dup(const unsigned char *lp);

/* Navigation; NULL past either end. */
unsigned char *lp_first(unsigned char *lp);
unsigned char *lp_last(unsigned char *lp);
unsigned char *lp_next(unsigned char *lp, unsigned char *p);
unsigned char *lp_prev(unsigned char *lp, unsigned char *p);
/* Entry at index (negative counts from the end), or NULL. */
unsigned char *lp_seek(unsigned char *lp, long index);

void lp_get(const unsigned char *p, lp_value *out);
/* The entry as bytes: strings point into the listpack, integers are
 * formatted into buf (>= 21 bytes). Returns the pointer, sets *len. */
const unsigned char *lp_get_bytes(const unsigned char *p, unsigned char *buf, uint32_t *len);
/* 1 when the entry equals s[0,len) (integers compare by value as strings do in Redis). */
int lp_equal(const unsigned char *p, const unsigned char *s, uint32_t len);

/* Changes. s is stored as an integer when it is one in canonical form. */
unsigned char *lp_append(unsigned char *lp, const unsigned char *s, uint32_t len);
unsigned char *lp_prepend(unsigned char *lp, const unsigned char *s, uint32_t len);
unsigned char *lp_append_int(unsigned char *lp, long long v);
/* Inserts before/after p, or replaces p (LP_REPLACE). *newp (if not NULL)
 * gets the inserted/replaced entry. */
unsigned char *lp_insert(unsigned char *lp, const unsigned char *s, uint32_t len, unsigned char *p,
                         int where, unsigned char **newp);
/* Deletes p; *next (if not NULL) gets the entry that followed it or NULL. */
unsigned char *lp_delete(unsigned char *lp, unsigned char *p, unsigned char **next);
unsigned char *lp_delete_range(unsigned char *lp, long index, unsigned long count);
/* Finds s starting at p, comparing every (skip+1)-th entry (skip 1: hash
 * fields / zset members), or NULL. */
unsigned char *lp_find(unsigned char *lp, unsigned char *p, const unsigned char *s, uint32_t len,
                       unsigned skip);
/* Full structural check of untrusted bytes (RDB load): 1 valid, 0 not. */
int lp_validate(const unsigned char *lp, size_t size);

#endif
