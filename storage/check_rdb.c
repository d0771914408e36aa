/* check_rdb.c: `ringkv-check-rdb FILE`, the redis-check-rdb counterpart:
 * reads the whole file, runs the RDB loader over it with a counting
 * callback, and reports what it saw (AUX fields, per-database key counts by
 * type, checksum) or the first error with its byte offset (exit 1).
 *
 * Single-threaded program; the file is read into memory at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/object.h"
#include "storage/rdb_file.h"

#define MAX_TYPES 7 /* OBJ_STRING .. OBJ_STREAM */

/* Key counts of one database. */
typedef struct db_count {
    int dbid;
    unsigned long long keys, expires;
    unsigned long long by_type[MAX_TYPES];
} db_count;

typedef struct checker {
    db_count *dbs;
    size_t ndbs, cap;
    unsigned long long keys, expires;
} checker;

static db_count *db_slot(checker *c, int dbid)
{
    for (size_t i = 0; i < c->ndbs; i++)
        if (c->dbs[i].dbid == dbid)
            return &c->dbs[i];
    if (c->ndbs == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        db_count *grown = realloc(c->dbs, cap * sizeof *grown);
        if (!grown)
            return NULL;
        c->dbs = grown;
        c->cap = cap;
    }
    db_count *d = &c->dbs[c->ndbs++];
    memset(d, 0, sizeof *d);
    d->dbid = dbid;
    return d;
}

static int count_key(void *ud, int dbid, const char *key, size_t klen, rk_obj *value, long long expire_ms)
{
    (void)key;
    (void)klen;
    checker *c = ud;
    db_count *d = db_slot(c, dbid);
    int type = value->type;
    obj_free(value);
    if (!d)
        return -1;
    d->keys++;
    c->keys++;
    if (type >= 0 && type < MAX_TYPES)
        d->by_type[type]++;
    if (expire_ms >= 0) {
        d->expires++;
        c->expires++;
    }
    return 0;
}

static void on_version(void *ud, int rdbver)
{
    (void)ud;
    printf("[offset 0] RDB format version %d\n", rdbver);
}

static void on_aux(void *ud, size_t offset, const char *name, const char *val, size_t vlen)
{
    (void)ud;
    printf("[offset %zu] AUX FIELD %s = '%.*s'\n", offset, name, (int)vlen, val);
}

static void on_select_db(void *ud, size_t offset, int dbid)
{
    (void)ud;
    printf("[offset %zu] Selecting DB ID %d\n", offset, dbid);
}

static void on_checksum(void *ud, size_t offset, int status)
{
    (void)ud;
    printf("[offset %zu] %s\n", offset, status ? "Checksum OK" : "Checksum not stored (disabled)");
}

static void print_db_counts(const checker *c)
{
    static const int order[] = {OBJ_STRING, OBJ_LIST, OBJ_SET, OBJ_ZSET, OBJ_HASH};
    for (size_t i = 0; i < c->ndbs; i++) {
        const db_count *d = &c->dbs[i];
        printf("db %d: %llu keys:", d->dbid, d->keys);
        for (size_t t = 0; t < sizeof order / sizeof order[0]; t++)
            printf("%s %llu %s", t ? "," : "", d->by_type[order[t]], obj_type_name(order[t]));
        printf(" (%llu with expire)\n", d->expires);
    }
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            unsigned char *grown = realloc(data, cap);
            if (!grown) {
                free(data);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            data = grown;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(data);
        errno = EIO;
        return NULL;
    }
    *len = n;
    return data;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "Usage: %s <rdb-file-name>\n", argv[0]);
        return 1;
    }
    if (rk_alloc_thread_init() != 0) {
        fprintf(stderr, "cannot initialise the allocator\n");
        return 1;
    }
    const char *path = argv[1];
    size_t len = 0;
    unsigned char *data = read_file(path, &len);
    if (!data) {
        fprintf(stderr, "Cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    printf("[offset 0] Checking RDB file %s\n", path);
    checker c = {0};
    rdb_load_hooks hooks = {0};
    hooks.key = count_key;
    hooks.version = on_version;
    hooks.aux = on_aux;
    hooks.select_db = on_select_db;
    hooks.checksum = on_checksum;
    char err[256];
    size_t bad = 0;
    int rc = rdb_file_load_hooks(data, len, &hooks, &c, err, sizeof err, &bad);
    if (rc != 0) {
        printf("--- RDB ERROR DETECTED ---\n");
        printf("[offset %zu] %s\n", bad, err);
        printf("[info] %llu keys read before the error\n", c.keys);
    } else {
        print_db_counts(&c);
        printf("[info] %llu keys read\n", c.keys);
        printf("[info] %llu expires\n", c.expires);
        printf("[offset %zu] \\o/ RDB looks OK! \\o/\n", len);
    }
    free(c.dbs);
    free(data);
    return rc != 0 ? 1 : 0;
}
