/* aof_fuzz.c: libFuzzer harness for the AOF parsers: storage/aof_manifest.c's
 * manifest parser and storage/aof_file.c's command stream reader.
 *
 * The first input byte chooses the parser (even: manifest, odd: reader);
 * the rest is the file.
 *
 * Manifest: aof_manifest_parse returns 0 or -1. On -1 the manifest is empty
 * and the message names a line that exists in the input (or none). On 0
 * every entry keeps the documented invariants (a base name without '/' or
 * '\\', possibly empty as in Redis 7.0; seq != 0; a known type; a shard in
 * range; a line of the input), the load order of each shard holds only its
 * base and INCR files, and the manifest survives a round trip:
 * aof_manifest_format's output parses again and formats to the same bytes
 * (what we accept, we write in a form we accept). Three exceptions: no file
 * at all (comments only: formatted, that is an empty file, which Redis and
 * we refuse), a name that quoting makes longer than a line, and an empty
 * name (the writer refuses both).
 *
 * Reader: a file starting with "REDIS" is an RDB preamble, skipped with
 * aof_rdb_end as the loader does (its end or bad byte must lie in the
 * input). Then every item must lie inside the input, follow the previous
 * one without a gap, and leave pos/ok_up_to ordered (start <= ok_up_to <=
 * pos <= len). A clean end consumed everything outside any MULTI. After
 * TRUNCATED or CORRUPT the verdict is sticky, `bad` lies in the input and
 * `err` says why; and the input cut at ok_up_to (what aof-load-truncated
 * and --fix keep) must read to a clean end with exactly the commands that
 * ended at or before ok_up_to; a TRUNCATED input cut anywhere between
 * ok_up_to and its end must read as TRUNCATED at the same ok_up_to (a
 * prefix of a prefix). Any disagreement aborts; ASan, UBSan and
 * LeakSanitizer catch the rest.
 *
 * Seeds (tests/fuzz/corpus_aof/, each prefixed with its selector byte):
 * files Debian's redis-server 7.0.15 wrote with appendonly yes (its
 * manifests; an INCR file with timestamps and a MULTI/EXEC, and the same cut
 * inside the MULTI; a RESP base from a rewrite without the RDB preamble; a
 * legacy file made of an RDB base followed by its INCR commands), and two
 * manifests written by hand (ringkv's, two shards with start/end and a
 * quoted name; Redis's with a history file).
 *
 * Threads: libFuzzer's one thread; the parsers allocate on its heap
 * (rk_alloc_thread_init in LLVMFuzzerInitialize). Bounds: one input at a
 * time; the formatted manifest is at most a few times the input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "io/buf.h"
#include "storage/aof_file.h"
#include "storage/aof_manifest.h"

/* Offsets of the commands handed out by one read, kept to compare with the
 * re-read of the cut file: at most one per 4 input bytes ("*1\r\n" at least). */
typedef struct cmd_ends {
    size_t *end;
    size_t n, cap;
} cmd_ends;

static void fuzz_fail(const char *what)
{
    fprintf(stderr, "aof_fuzz: %s\n", what);
    abort();
}

/* ---- manifest ------------------------------------------------------------ */

/* The most lines the parser can count in p[0, len): one per '\n', one per
 * chunk of AOF_MANIFEST_MAX_LINE bytes without one, and a last partial one. */
static long max_lines(const char *p, size_t len)
{
    long nl = 0;
    for (size_t i = 0; i < len; i++)
        nl += p[i] == '\n';
    return nl + (long)(len / AOF_MANIFEST_MAX_LINE) + 1;
}

/* "m:<line>: ..." names a line of the input; "m: ..." names none. */
static void check_error_line(const char *err, long lines)
{
    if (err[0] == '\0')
        fuzz_fail("manifest refused without a reason");
    if (strncmp(err, "m:", 2) != 0)
        fuzz_fail("manifest error does not name the file");
    if (err[2] < '0' || err[2] > '9')
        return;
    long line = strtol(err + 2, NULL, 10);
    if (line < 1 || line > lines)
        fuzz_fail("manifest error names a line outside the input");
}

static void check_manifest_entries(const aof_manifest *am, long lines)
{
    for (size_t i = 0; i < am->n; i++) {
        const aof_info *fi = &am->files[i];
        if (!fi->name)
            fuzz_fail("entry without a name");
        if (strchr(fi->name, '/') || strchr(fi->name, '\\'))
            fuzz_fail("entry name with a path separator");
        if (fi->seq == 0)
            fuzz_fail("entry with seq 0");
        if (fi->type != AOF_TYPE_BASE && fi->type != AOF_TYPE_HIST && fi->type != AOF_TYPE_INCR)
            fuzz_fail("entry of an unknown type");
        if (fi->shard < 0 || fi->shard > AOF_MANIFEST_MAX_SHARD)
            fuzz_fail("entry shard out of range");
        if (lines >= 0 && (fi->line < 1 || fi->line > lines))
            fuzz_fail("entry line outside the input");
    }
    int shards = aof_manifest_shards(am);
    if (shards < 0 || shards > AOF_MANIFEST_MAX_SHARD + 1)
        fuzz_fail("shard count out of range");
    for (int s = 0; s < shards; s++) {
        const aof_info *order[64];
        size_t n = aof_manifest_load_order(am, s, order, 64);
        if (n > am->n)
            fuzz_fail("load order longer than the manifest");
        for (size_t i = 0; i < n && i < 64; i++) {
            if (order[i]->shard != s || order[i]->type == AOF_TYPE_HIST)
                fuzz_fail("load order holds another shard's file or a history file");
            if (order[i]->type == AOF_TYPE_BASE && i != 0)
                fuzz_fail("a base loaded after an INCR file");
        }
    }
}

static int has_empty_name(const aof_manifest *am)
{
    for (size_t i = 0; i < am->n; i++)
        if (!am->files[i].name[0])
            return 1;
    return 0;
}

static void fuzz_manifest(const char *p, size_t len)
{
    aof_manifest am;
    char err[1400];
    long lines = max_lines(p, len);
    err[0] = '\0';
    if (aof_manifest_parse(&am, "m", p, len, err, sizeof err) != 0) {
        if (am.n != 0)
            fuzz_fail("failed parse left entries");
        check_error_line(err, lines);
        aof_manifest_release(&am);
        return;
    }
    check_manifest_entries(&am, lines);
    if (am.n == 0) {
        /* Comments only: accepted, as Redis 7.0 accepts it (no AOF then).
         * Formatted it is an empty file, which both refuse ("empty AOF
         * manifest"): no round trip to check. */
        aof_manifest_release(&am);
        return;
    }

    rk_buf once, twice;
    rk_buf_init(&once);
    rk_buf_init(&twice);
    if (aof_manifest_format(&am, &once, err, sizeof err) != 0) {
        /* Two refusals are expected: a name that parsed within a line may
         * need more than a line once quoted (each byte up to 4), and an
         * empty name ("" parses, as in Redis 7.0, but is no file to write).
         * Nothing else may fail here. */
        if (!strstr(err, "longer than") && !(has_empty_name(&am) && strstr(err, "bad file name"))) {
            fprintf(stderr, "aof_fuzz: %s\n", err);
            fuzz_fail("a parsed manifest does not format");
        }
        rk_buf_free(&once);
        aof_manifest_release(&am);
        return;
    }
    aof_manifest again;
    if (aof_manifest_parse(&again, "m", once.data, once.len, err, sizeof err) != 0) {
        fprintf(stderr, "aof_fuzz: %s\n", err);
        fuzz_fail("the formatted manifest does not parse");
    }
    if (again.n != am.n || again.ringkv != am.ringkv)
        fuzz_fail("the formatted manifest parses to another number of files");
    check_manifest_entries(&again, -1);
    if (aof_manifest_format(&again, &twice, err, sizeof err) != 0)
        fuzz_fail("the re-parsed manifest does not format");
    if (once.len != twice.len || memcmp(once.data, twice.data, once.len) != 0)
        fuzz_fail("formatting is not stable across a round trip");
    rk_buf_free(&once);
    rk_buf_free(&twice);
    aof_manifest_release(&again);
    aof_manifest_release(&am);
}

/* ---- command stream ---------------------------------------------------------- */

static void ends_add(cmd_ends *e, size_t end)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        size_t *p = realloc(e->end, cap * sizeof *p);
        if (!p)
            fuzz_fail("out of memory in the harness");
        e->end = p;
        e->cap = cap;
    }
    e->end[e->n++] = end;
}

static void check_cmd(const aof_reader *r, size_t prev_pos)
{
    const aof_cmd *c = &r->cmd;
    const char *base = (const char *)r->p;
    if (c->offset != prev_pos || c->end <= c->offset || c->end > r->len || r->pos != c->end)
        fuzz_fail("command outside the input or not where the last item ended");
    if (c->argc < 1 || !c->argv || !c->argvlen)
        fuzz_fail("command without arguments");
    for (int i = 0; i < c->argc; i++) {
        if (c->argv[i] < base + c->offset || c->argvlen[i] > (size_t)(base + c->end - c->argv[i]))
            fuzz_fail("argument outside its command");
    }
}

static void check_note(const aof_reader *r, size_t prev_pos)
{
    const char *base = (const char *)r->p;
    if (r->note_offset != prev_pos || r->pos <= r->note_offset || r->pos > r->len)
        fuzz_fail("annotation outside the input or not where the last item ended");
    if (r->note != base + r->note_offset + 1 || r->note_len > r->pos - r->note_offset - 1)
        fuzz_fail("annotation text outside its line");
}

/* Reads p[start, len) to its end. Returns the final status (AOF_NEXT_END,
 * TRUNCATED or CORRUPT; NOMEM is not expected without injected failures)
 * and fills `ends` and *ok_up_to. */
static int read_stream(const unsigned char *p, size_t len, size_t start, cmd_ends *ends, size_t *ok_up_to)
{
    aof_reader r;
    aof_reader_init(&r, p, len, start);
    int rc;
    for (;;) {
        size_t prev_pos = r.pos, prev_ok = r.ok_up_to;
        rc = aof_reader_next(&r);
        if (r.ok_up_to < prev_ok || r.ok_up_to < start || r.ok_up_to > r.pos || r.pos > len)
            fuzz_fail("ok_up_to/pos out of order");
        if (rc == AOF_NEXT_CMD) {
            check_cmd(&r, prev_pos);
            ends_add(ends, r.cmd.end);
        } else if (rc == AOF_NEXT_ANNOTATION) {
            check_note(&r, prev_pos);
        } else {
            break;
        }
    }
    if (rc == AOF_NEXT_END) {
        if (r.pos != len || r.in_multi || r.ok_up_to != len)
            fuzz_fail("clean end before the end of the input or inside MULTI");
    } else if (rc == AOF_NEXT_TRUNCATED || rc == AOF_NEXT_CORRUPT) {
        if (r.bad > len)
            fuzz_fail("bad offset past the end of the input");
        if (r.err[0] == '\0')
            fuzz_fail("failed read without a reason");
        if (aof_reader_next(&r) != rc || r.status != rc)
            fuzz_fail("failure verdict is not sticky");
    } else if (rc != AOF_NEXT_NOMEM) {
        fuzz_fail("unknown reader result");
    }
    *ok_up_to = r.ok_up_to;
    aof_reader_release(&r);
    return rc;
}

/* The file is a prefix of a valid one: so is every shorter cut that still
 * ends past ok_up_to, which must then read as truncated at the same point,
 * never as corrupt. Cuts tried: all of them when at most TRUNC_CUTS_ALL
 * bytes lie past ok_up_to, else TRUNC_CUTS_SOME evenly spaced ones. */
#define TRUNC_CUTS_ALL 64
#define TRUNC_CUTS_SOME 16
static void check_truncation_stable(const unsigned char *p, size_t len, size_t start, size_t ok)
{
    size_t span = len - ok;
    size_t tries = span <= TRUNC_CUTS_ALL ? span - 1 : TRUNC_CUTS_SOME;
    for (size_t i = 1; i <= tries; i++) {
        size_t at = span <= TRUNC_CUTS_ALL ? ok + i : ok + span * i / (TRUNC_CUTS_SOME + 1);
        if (at <= ok || at >= len)
            continue;
        unsigned char *copy = malloc(at);
        if (!copy)
            fuzz_fail("out of memory in the harness");
        memcpy(copy, p, at);
        cmd_ends ends = {0};
        size_t ok_cut = 0;
        int rc = read_stream(copy, at, start, &ends, &ok_cut);
        if (rc != AOF_NEXT_TRUNCATED || ok_cut != ok) {
            fprintf(stderr, "aof_fuzz: cut at %zu of %zu (ok_up_to %zu): result %d, ok_up_to %zu\n", at, len, ok,
                    rc, ok_cut);
            fuzz_fail("a shorter cut of a truncated file is not truncated at the same point");
        }
        free(ends.end);
        free(copy);
    }
}

static void fuzz_reader(const unsigned char *p, size_t len)
{
    size_t start = 0;
    if (aof_file_kind(p, len) == AOF_FILE_RDB) {
        size_t end = 0, bad = 0;
        char err[256];
        if (aof_rdb_end(p, len, &end, &bad, err, sizeof err) != 0) {
            if (bad > len)
                fuzz_fail("preamble bad offset past the end of the input");
            return;
        }
        if (end > len)
            fuzz_fail("preamble ends past the input");
        start = end;
    }
    cmd_ends all = {0}, cut = {0};
    size_t ok = 0, ok_cut = 0;
    int rc = read_stream(p, len, start, &all, &ok);
    if (rc == AOF_NEXT_TRUNCATED || rc == AOF_NEXT_CORRUPT) {
        /* What aof-load-truncated / --fix keep must be a clean file holding
         * the same commands, up to the cut. A copy of exactly ok bytes, so
         * ASan sees any read past the cut. */
        unsigned char *copy = malloc(ok ? ok : 1);
        if (!copy)
            fuzz_fail("out of memory in the harness");
        memcpy(copy, p, ok);
        int rc2 = read_stream(copy, ok, start, &cut, &ok_cut);
        if (rc2 != AOF_NEXT_END)
            fuzz_fail("the input cut at ok_up_to does not read to a clean end");
        size_t kept = 0;
        while (kept < all.n && all.end[kept] <= ok)
            kept++;
        if (cut.n != kept || (kept && memcmp(cut.end, all.end, kept * sizeof *all.end) != 0))
            fuzz_fail("the cut file holds other commands than the original up to ok_up_to");
        free(copy);
    }
    if (rc == AOF_NEXT_TRUNCATED)
        check_truncation_stable(p, len, start, ok);
    free(all.end);
    free(cut.end);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (rk_alloc_thread_init() != 0)
        fuzz_fail("rk_alloc_thread_init failed");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fuzz_reader(data + 1, size - 1);
    else
        fuzz_manifest((const char *)data + 1, size - 1);
    return 0;
}
