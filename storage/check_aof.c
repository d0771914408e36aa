/* check_aof.c: `ringkv-check-aof`, the redis-check-aof counterpart.
 *
 *   ringkv-check-aof [--fix] PATH
 *   ringkv-check-aof --export FILE PATH
 *
 * PATH is a manifest (ringkv's per-shard one or Redis 7's), a legacy AOF
 * (RESP, maybe with an RDB preamble) or one file of an appendonlydir. The
 * check prints what redis-check-aof 7.0 prints (same lines, same
 * "ok_up_to"/"ok_up_to_line"/"diff" numbers, same exit codes); --fix asks
 * "Continue? [y/N]:" on stdin and truncates the last file of a shard back
 * to its last complete command. --export writes the whole dataset (every
 * file the manifest loads, shard by shard, bases turned into commands) as
 * one AOF without preamble that redis-check-aof accepts and redis-server
 * loads.
 *
 * Single-threaded offline program. Files are mapped read-only; a file is
 * changed only by --fix's ftruncate after the user said yes. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/object.h"
#include "storage/aof_export.h"
#include "storage/aof_file.h"
#include "storage/aof_manifest.h"
#include "storage/rdb_file.h"

/* Results of checking one file (redis-check-aof's AOF_CHECK_*). */
enum { CHECK_OK = 0, CHECK_EMPTY = 1, CHECK_TRUNCATED = 2 };

typedef struct tool {
    int fix;
    unsigned long long lines; /* "\r\n" counted over every file so far (redis-check-aof's global) */
    /* --export */
    int out_fd;
    const char *out_path;
    rk_buf out;
    aof_exporter x;
    unsigned long long commands;
} tool;

static void die(void) __attribute__((noreturn));
static void die(void)
{
    fflush(stdout);
    exit(1);
}

/* ---- the RDB part of a file ------------------------------------------------ */

typedef struct rdb_counts {
    tool *t;
    unsigned long long keys, expires, expired;
    long long now_ms;
    int failed; /* the export callback failed */
} rdb_counts;

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

static int on_key(void *ud, int dbid, const char *key, size_t klen, rk_obj *value, long long expire_ms)
{
    rdb_counts *c = ud;
    c->keys++;
    if (expire_ms >= 0) {
        c->expires++;
        if (expire_ms < c->now_ms)
            c->expired++;
    }
    int rc = 0;
    if (c->t->out_fd >= 0) {
        rc = aof_export_key(&c->t->x, dbid, key, klen, value, expire_ms);
        if (rc == -2)
            printf("Cannot export key '%.*s': type %d has no AOF form\n", (int)klen, key, value->type);
    }
    obj_free(value);
    if (rc != 0)
        c->failed = 1;
    return rc;
}

/* Checks (and exports) the RDB at the start of the file, redis-check-rdb's
 * texts; returns where the RDB ends, or exits as redis-check-aof does. */
static size_t check_rdb_part(tool *t, const char *name, const aof_map *m)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rdb_counts c = {t, 0, 0, 0, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, 0};
    rdb_load_hooks hooks = {0};
    hooks.key = on_key;
    hooks.aux = on_aux;
    hooks.select_db = on_select_db;
    hooks.checksum = on_checksum;
    char err[256];
    size_t bad = 0, end = 0;
    printf("[offset 0] Checking RDB file %s\n", name);
    int rc = rdb_file_load_hooks(m->p, m->len, &hooks, &c, err, sizeof err, &bad);
    if (rc == 0)
        rc = aof_rdb_end(m->p, m->len, &end, &bad, err, sizeof err);
    if (rc != 0) {
        if (c.failed && t->out_fd >= 0) {
            printf("Export to %s failed\n", t->out_path);
            die();
        }
        printf("--- RDB ERROR DETECTED ---\n");
        printf("[offset %zu] %s\n", bad, err);
        printf("[info] %llu keys read\n", c.keys);
        printf("RDB preamble of AOF file is not sane, aborting.\n");
        die();
    }
    printf("[offset %zu] \\o/ RDB looks OK! \\o/\n", end);
    printf("[info] %llu keys read\n", c.keys);
    printf("[info] %llu expires\n", c.expires);
    printf("[info] %llu already expired\n", c.expired);
    printf("RDB preamble is OK, proceeding with AOF tail...\n");
    return end;
}

/* ---- the command stream --------------------------------------------------- */

/* A SELECT's database number, or -1 when the command is not a valid SELECT. */
static int select_db_of(const aof_cmd *c)
{
    if (c->argc != 2 || c->argvlen[0] != 6 || strncasecmp(c->argv[0], "select", 6) != 0)
        return -1;
    long long db;
    if (!rk_str2ll(c->argv[1], c->argvlen[1], &db) || db < 0 || db > INT_MAX)
        return -1;
    return (int)db;
}

/* Copies one command of the input to the export, in the database the input
 * has selected (its SELECTs are re-emitted lazily by the exporter). */
static int export_command(tool *t, const aof_cmd *c, int *in_db)
{
    int db = select_db_of(c);
    if (db >= 0) {
        *in_db = db;
        return 0;
    }
    if (aof_export_select(&t->x, *in_db) != 0 ||
        aof_put_command(t->x.out, c->argc, (const char *const *)c->argv, c->argvlen) != 0)
        return -1;
    t->commands++;
    return t->x.out->len >= AOF_EXPORT_FLUSH_AT ? aof_export_flush(&t->x) : 0;
}

/* Runs the reader to its end; returns its final status. */
static int scan_stream(tool *t, aof_reader *r)
{
    int in_db = 0; /* every file starts in database 0 (Redis: a new fake client per file) */
    int rc;
    while ((rc = aof_reader_next(r)) > 0) {
        if (rc == AOF_NEXT_CMD && t->out_fd >= 0 && export_command(t, &r->cmd, &in_db) != 0) {
            printf("Export to %s failed: %s\n", t->out_path, strerror(errno));
            die();
        }
    }
    if (rc == AOF_NEXT_NOMEM) {
        printf("Out of memory reading the AOF\n");
        die();
    }
    return rc;
}

static void report_damage(const char *name, const aof_reader *r)
{
    if (r->format_error)
        printf("AOF %s format error\n", name);
    else
        printf("0x%16llx: %s\n", (unsigned long long)r->bad, r->err);
}

/* Asks, then truncates the file at r->ok_up_to (redis-check-aof --fix). */
static int fix_tail(const char *name, const char *path, const aof_reader *r, int last_file)
{
    size_t size = r->len, pos = r->ok_up_to;
    if (!last_file) {
        printf("Failed to truncate AOF %s because it is not the last file\n", name);
        die();
    }
    if (r->status == AOF_NEXT_CORRUPT && r->bad < size)
        printf("Warning: the damage at offset %zu is not a cut-off tail; the %zu bytes after offset %zu, "
               "whatever they hold, will be lost\n", r->bad, size - pos, pos);
    printf("This will shrink the AOF %s from %zu bytes, with %zu bytes, to %zu bytes\n", name, size, size - pos, pos);
    printf("Continue? [y/N]: ");
    fflush(stdout);
    char buf[2];
    if (fgets(buf, sizeof buf, stdin) == NULL || strncasecmp(buf, "y", 1) != 0) {
        printf("Aborting...\n");
        die();
    }
    if (truncate(path, (off_t)pos) != 0) {
        printf("Failed to truncate AOF %s\n", name);
        die();
    }
    return CHECK_TRUNCATED;
}

/* redis-check-aof's checkSingleAof. `preamble`: the file starts with an RDB. */
static int check_single(tool *t, const char *name, const char *path, int last_file)
{
    aof_map m;
    if (aof_map_open(&m, path) != 0) {
        printf("Cannot open file %s: %s, aborting...\n", path, strerror(errno));
        die();
    }
    if (m.len == 0)
        return CHECK_EMPTY;
    size_t start = 0;
    if (aof_file_kind(m.p, m.len) == AOF_FILE_RDB && m.len >= 8)
        start = check_rdb_part(t, name, &m);
    if (t->out_fd >= 0)
        aof_export_reset_db(&t->x); /* a SELECT before the file's first command, whatever came before */
    aof_reader r;
    aof_reader_init(&r, m.p, m.len, start);
    int rc = scan_stream(t, &r);
    t->lines += r.lines;
    if (rc != AOF_NEXT_END)
        report_damage(name, &r);
    size_t pos = rc == AOF_NEXT_END ? m.len : r.ok_up_to;
    printf("AOF analyzed: filename=%s, size=%zu, ok_up_to=%zu, ok_up_to_line=%llu, diff=%zu\n", name, m.len, pos,
           t->lines + 1, m.len - pos);
    int result = CHECK_OK;
    if (rc != AOF_NEXT_END) {
        if (t->out_fd >= 0) {
            printf("AOF %s is not valid: cannot export it. Check it with --fix first.\n", name);
            die();
        }
        if (!t->fix) {
            printf("AOF %s is not valid. Use the --fix option to try fixing it.\n", name);
            die();
        }
        result = fix_tail(name, path, &r, last_file);
    }
    aof_reader_release(&r);
    aof_map_close(&m);
    return result;
}

static void print_result(const char *what, const char *name, int rc)
{
    if (rc == CHECK_OK)
        printf("%s%s is valid\n", what, name);
    else if (rc == CHECK_EMPTY)
        printf("%s%s is empty\n", what, name);
    else
        printf("Successfully truncated AOF %s\n", name);
}

/* ---- manifests ------------------------------------------------------------ */

static void check_shard(tool *t, const char *dir, const aof_manifest *am, int shard)
{
    const aof_info *files[4096];
    size_t n = aof_manifest_load_order(am, shard, files, sizeof files / sizeof files[0]);
    if (n > sizeof files / sizeof files[0]) {
        printf("Shard %d lists %zu files, more than the %zu this tool takes\n", shard, n,
               sizeof files / sizeof files[0]);
        die();
    }
    if (am->ringkv)
        printf("Start checking shard %d\n", shard);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        const aof_info *fi = files[i];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, fi->name) >= sizeof path) {
            printf("Path too long: %s/%s\n", dir, fi->name);
            die();
        }
        int base = fi->type == AOF_TYPE_BASE;
        if (base) {
            struct stat st;
            int fd = open(path, O_RDONLY);
            char sig[5] = {0};
            int rdb = fd >= 0 && fstat(fd, &st) == 0 && st.st_size >= 8 && read(fd, sig, 5) == 5 &&
                      memcmp(sig, "REDIS", 5) == 0;
            if (fd >= 0)
                close(fd);
            printf("Start to check BASE AOF (%s format).\n", rdb ? "RDB" : "RESP");
        } else if (i == 0 || files[i - 1]->type == AOF_TYPE_BASE) {
            printf("Start to check INCR files.\n");
        }
        int rc = check_single(t, fi->name, path, i + 1 == n);
        print_result(base ? "BASE AOF " : "INCR AOF ", fi->name, rc);
    }
}

static void check_manifest(tool *t, const char *path)
{
    char err[1400], dirbuf[PATH_MAX];
    aof_manifest am;
    printf("Start checking Multi Part AOF\n");
    if (aof_manifest_load(&am, path, err, sizeof err) != 0) {
        printf("\n*** FATAL AOF MANIFEST FILE ERROR ***\n\n%s\n", err);
        die();
    }
    snprintf(dirbuf, sizeof dirbuf, "%s", path);
    const char *dir = dirname(dirbuf);
    int shards = aof_manifest_shards(&am);
    for (int s = 0; s < shards; s++)
        check_shard(t, dir, &am, s);
    aof_manifest_release(&am);
    printf("All AOF files and manifest are valid\n");
}

/* redis-check-aof's fileIsManifest: a chunk (not a comment) starting with "file". */
static int is_manifest(const char *path)
{
    aof_map m;
    if (aof_map_open(&m, path) != 0) {
        printf("Cannot open file %s: %s\n", path, strerror(errno));
        die();
    }
    int yes = 0;
    size_t pos = 0;
    while (pos < m.len && !yes) {
        size_t n = 0;
        while (n < AOF_MANIFEST_MAX_LINE && pos + n < m.len && m.p[pos + n] != '\n')
            n++;
        if (n < AOF_MANIFEST_MAX_LINE && pos + n < m.len)
            n++;
        if (m.p[pos] != '#' && n >= 4 && memcmp(m.p + pos, "file", 4) == 0)
            yes = 1;
        pos += n;
    }
    aof_map_close(&m);
    return yes;
}

/* ---- main ------------------------------------------------------------------ */

static int flush_out(void *ud, rk_buf *out)
{
    tool *t = ud;
    size_t done = 0;
    while (done < out->len) {
        ssize_t w = write(t->out_fd, out->data + done, out->len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        done += (size_t)w;
    }
    rk_buf_clear(out);
    return 0;
}

static void usage(const char *argv0)
{
    printf("Usage: %s [--fix] <file.manifest|file.aof>\n"
           "       %s --export <out.aof> <file.manifest|file.aof>\n",
           argv0, argv0);
    exit(1);
}

static void open_export(tool *t, const char *out)
{
    t->out_path = out;
    t->out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (t->out_fd < 0) {
        printf("Cannot create %s: %s\n", out, strerror(errno));
        die();
    }
    rk_buf_init(&t->out);
    aof_export_init(&t->x, &t->out, flush_out, t);
}

static void finish_export(tool *t)
{
    if (aof_export_flush(&t->x) != 0 || fsync(t->out_fd) != 0 || close(t->out_fd) != 0) {
        printf("Export to %s failed: %s\n", t->out_path, strerror(errno));
        die();
    }
    rk_buf_free(&t->out);
    printf("Exported %llu keys and %llu commands to %s\n", t->x.keys, t->commands, t->out_path);
}

int main(int argc, char **argv)
{
    tool t = {0};
    t.out_fd = -1;
    const char *path = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fix"))
            t.fix = 1;
        else if (!strcmp(argv[i], "--export") && i + 1 < argc)
            out = argv[++i];
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else
            usage(argv[0]);
    }
    if (!path || (out && t.fix))
        usage(argv[0]);
    if (rk_alloc_thread_init() != 0) {
        printf("cannot initialise the allocator\n");
        return 1;
    }
    if (out)
        open_export(&t, out);
    if (is_manifest(path)) {
        check_manifest(&t, path);
    } else {
        printf("Start checking Old-Style AOF\n");
        print_result("AOF ", path, check_single(&t, path, path, 1));
    }
    if (out)
        finish_export(&t);
    fflush(stdout);
    return 0;
}
