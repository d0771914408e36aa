/* rdb_load_fuzz.c: libFuzzer harness for the RDB file reader
 * (storage/rdb_file.c's walker and loader over storage/rdb_value.c).
 *
 * The input is a whole file. It is loaded with rdb_file_load_hooks three
 * times: with Redis's default encoding limits, with tiny limits (so every
 * compact-to-full conversion runs), and with the allocator failing after a
 * number of allocations taken from the input (the out-of-memory paths must
 * free what they built). Every value handed out is freed (obj_free); in the
 * first two runs it is first written into a new RDB file with rdb_writer.
 * When a load succeeds, that new file must load as well, with the same
 * number of keys: whatever our reader accepts, our writer writes in a form
 * our reader accepts. Offsets handed to hooks and error offsets must lie
 * inside the input. Any disagreement aborts; ASan, UBSan and LeakSanitizer
 * catch the rest.
 *
 * Seeds (tests/fuzz/corpus_rdb/): files Debian's redis-server 7.0.15 saved
 * (every type in both encodings, expiries, two databases, rdbcompression
 * and rdbchecksum off), and legacy_v9.rdb, built by hand with the
 * encodings Redis 2.x-6.x wrote (zipmap, ziplists, quicklist of ziplists,
 * string scores) and accepted by redis-check-rdb 7.0.15.
 *
 * Threads: libFuzzer's one thread; values live on its allocator heap
 * (rk_alloc_thread_init in LLVMFuzzerInitialize). Bounds: one input at a
 * time; the rewritten file is at most what the loaded values serialize to. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/object.h"
#include "io/buf.h"
#include "storage/rdb_file.h"
#include "storage/rdb_value.h"

/* Allocations allowed before the injected failure: enough to get past the
 * header and into the first few values of a small file. */
#define OOM_MAX_COUNTDOWN 256

/* The state of one load. */
typedef struct load_run {
    size_t input_len;
    int rewrite;        /* write every value into `w` */
    rdb_writer w;
    rk_buf out;
    int cur_db;         /* database of the last key written, -1 before any */
    size_t keys;
    int versions;       /* calls of the version hook */
} load_run;

static void fuzz_fail(const char *what)
{
    fprintf(stderr, "rdb_load_fuzz: %s\n", what);
    abort();
}

static int on_key(void *ud, int dbid, const char *key, size_t klen, rk_obj *value, long long expire_ms)
{
    load_run *run = ud;
    if (!value || !key) fuzz_fail("key callback without a key or value");
    if (dbid < 0) fuzz_fail("negative database number");
    /* expire_ms may be any int64: a negative one is an expiry long past. */
    run->keys++;
    if (run->rewrite) {
        if (dbid != run->cur_db) {
            if (rdb_writer_select_db(&run->w, dbid, 0, 0) != 0) fuzz_fail("select_db failed on a buffer sink");
            run->cur_db = dbid;
        }
        if (rdb_writer_key(&run->w, key, klen, value, expire_ms) != 0)
            fuzz_fail("writing a loaded value failed on a buffer sink");
    }
    obj_free(value);
    return 0;
}

static void on_version(void *ud, int rdbver)
{
    load_run *run = ud;
    if (rdbver < RDB_FILE_MIN_VERSION || rdbver > RDB_FILE_MAX_VERSION) fuzz_fail("version out of range");
    run->versions++;
}

static void check_offset(const load_run *run, size_t offset)
{
    if (offset >= run->input_len) fuzz_fail("hook offset outside the input");
}

static void on_aux(void *ud, size_t offset, const char *name, const char *val, size_t vlen)
{
    (void)vlen;
    check_offset(ud, offset);
    if (!name || !val) fuzz_fail("aux without name or value");
}

static void on_select_db(void *ud, size_t offset, int dbid)
{
    check_offset(ud, offset);
    if (dbid < 0) fuzz_fail("negative SELECTDB handed out");
}

static void on_resize_db(void *ud, size_t offset, uint64_t db_size, uint64_t expires_size)
{
    (void)db_size;
    (void)expires_size;
    check_offset(ud, offset);
}

static void on_checksum(void *ud, size_t offset, int status)
{
    check_offset(ud, offset);
    if (status != 0 && status != 1) fuzz_fail("checksum status neither 0 nor 1");
}

/* Loads p[0, len) once; returns the loader's result. */
static int load_once(const uint8_t *p, size_t len, const rdb_limits *lim, load_run *run)
{
    rdb_load_hooks hooks = {
        .key = on_key,
        .version = on_version,
        .aux = on_aux,
        .select_db = on_select_db,
        .resize_db = on_resize_db,
        .checksum = on_checksum,
        .limits = lim,
    };
    char err[256];
    size_t err_offset = SIZE_MAX;
    int rc = rdb_file_load_hooks(p, len, &hooks, run, err, sizeof err, &err_offset);
    if (rc != 0 && rc != -1) fuzz_fail("load returned neither 0 nor -1");
    if (rc == -1) {
        if (err[0] == '\0') fuzz_fail("failed load without a reason");
        if (err_offset > len) fuzz_fail("error offset past the end of the input");
    } else if (run->versions != 1) {
        fuzz_fail("a successful load reported the version other than once");
    }
    return rc;
}

static void run_init(load_run *run, size_t input_len, int rewrite)
{
    memset(run, 0, sizeof *run);
    run->input_len = input_len;
    run->rewrite = rewrite;
    run->cur_db = -1;
    rk_buf_init(&run->out);
    rdb_writer_init_buf(&run->w, &run->out, 1, 1);
    if (rewrite) {
        rdb_aux_info aux = {.ctime = 0, .used_mem = 0, .repl_stream_db = 0, .repl_offset = 0, .aof_base = 0};
        memset(aux.repl_id, '0', 40);
        if (rdb_writer_header(&run->w, &aux) != 0) fuzz_fail("writing a header failed on a buffer sink");
    }
}

static void run_release(load_run *run)
{
    rdb_writer_release(&run->w);
    rk_buf_free(&run->out);
}

/* Load with `lim`; on success the rewritten file must load to as many keys. */
static void load_and_reload(const uint8_t *data, size_t size, const rdb_limits *lim)
{
    load_run run;
    run_init(&run, size, 1);
    if (load_once(data, size, lim, &run) == 0) {
        if (rdb_writer_finish(&run.w) != 0) fuzz_fail("finishing the rewritten file failed");
        load_run again;
        run_init(&again, run.out.len, 0);
        if (load_once((const uint8_t *)run.out.data, run.out.len, lim, &again) != 0)
            fuzz_fail("our reader refused what our writer wrote from loaded values");
        if (again.keys != run.keys) fuzz_fail("the rewritten file holds a different number of keys");
        run_release(&again);
    }
    run_release(&run);
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (rk_alloc_thread_init() != 0) fuzz_fail("rk_alloc_thread_init failed");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rdb_limits defaults;
    rdb_limits_from_config(&defaults, NULL);
    load_and_reload(data, size, &defaults);

    /* Tiny limits: quicklist nodes of 2 entries, everything else converted
     * to its full encoding beyond 2 elements or 4-byte values. */
    const rdb_limits tiny = {.list_fill = 2, .hash_entries = 2, .hash_value = 4,
                             .set_intset_entries = 2, .zset_entries = 2, .zset_value = 4};
    load_and_reload(data, size, &tiny);

    /* Out of memory part-way: a clean failure or a clean load, never a leak. */
    load_run run;
    run_init(&run, size, 0);
    rk_alloc_fail_after((int64_t)(fnv1a(data, size) % OOM_MAX_COUNTDOWN));
    (void)load_once(data, size, &defaults, &run);
    rk_alloc_fail_after(-1);
    run_release(&run);
    return 0;
}
