/* aof_manifest.h: the AOF manifest, the one file that says which files of
 * appendonlydir/ hold the data and in which order.
 *
 * Grammar: Redis 7.0's (src/aof.c aofLoadManifestFromFile), reproduced
 * exactly, so that a manifest Redis 7.0 accepts we accept and every one it
 * refuses we refuse with its message. One line per file:
 *
 *     file <name> seq <n> type <b|h|i> [shard <k>] [start <pos>] [end <pos>]
 *
 * Keys are matched without regard to case, values are split with
 * sdssplitargs's quoting rules, a line starting with '#' is a comment, and
 * unknown keys are ignored (Redis 7.0 ignores them too: "for forward
 * compatibility"). `shard`, `start` and `end` are ringkv's; see
 * docs/formats.md for their meaning and for the rules ringkv adds.
 *
 * Threads: no shared state; every function works on its arguments only.
 * Memory comes from rk_malloc (the caller's heap). */
#ifndef RK_STORAGE_AOF_MANIFEST_H
#define RK_STORAGE_AOF_MANIFEST_H
#include <stddef.h>
#include <stdint.h>
#include "io/buf.h"

/* Redis's MANIFEST_MAX_LINE: a line (its '\n' included) is read in chunks
 * of at most this many bytes; a longer one is an error. */
#define AOF_MANIFEST_MAX_LINE 1024
/* A manifest larger than this is refused before it is read: at most one
 * line per file, and even thousands of history files stay far below it. */
#define AOF_MANIFEST_MAX_SIZE (16u << 20)
/* The highest shard number a manifest may name (core/shard.h RK_MAX_SHARDS - 1). */
#define AOF_MANIFEST_MAX_SHARD 63
/* `start`/`end` absent. */
#define AOF_POS_NONE UINT64_MAX

/* Redis's file types (the first byte of the `type` value). */
enum { AOF_TYPE_BASE = 'b', AOF_TYPE_HIST = 'h', AOF_TYPE_INCR = 'i' };

/* One line of the manifest. */
typedef struct aof_info {
    char *name;       /* a base name (no '/' or '\\'), NUL-terminated, owned */
    long long seq;    /* never 0 (Redis reads 0 as "missing") */
    char type;        /* AOF_TYPE_* */
    int shard;        /* 0..AOF_MANIFEST_MAX_SHARD; 0 when the line has no shard key */
    uint64_t start;   /* first journal position covered, or AOF_POS_NONE */
    uint64_t end;     /* first journal position not covered, or AOF_POS_NONE */
    int line;         /* the manifest line it came from; 0 when built in memory */
} aof_info;

/* A whole manifest, in file order. Invariants after a successful parse (and
 * required by aof_manifest_format): at most one base per shard; the INCR
 * sequence numbers of each shard strictly increase in file order; either
 * every line has a shard key (`ringkv` set) or none has. */
typedef struct aof_manifest {
    aof_info *files;
    size_t n, cap;
    int ringkv;       /* 1: ringkv's per-shard manifest; 0: Redis 7's (all keys in one set of files) */
} aof_manifest;

void aof_manifest_init(aof_manifest *am);
void aof_manifest_release(aof_manifest *am);

/* Parses a manifest held in p[0, len). `path` only names the file in error
 * messages. 0, or -1 with err = "<path>:<line>: <reason>: '<line text>'"
 * (Redis's reason texts; ringkv's own rules have their own), or
 * "<path>: <reason>" when no line is at fault (an empty manifest, no memory).
 * On failure am is left empty. */
int aof_manifest_parse(aof_manifest *am, const char *path, const char *p, size_t len, char *err, size_t errlen);
/* Reads and parses the file at path. 0, or -1 with err (the errors of
 * aof_manifest_parse, or "<path>: <strerror>"). */
int aof_manifest_load(aof_manifest *am, const char *path, char *err, size_t errlen);

/* Appends a copy of fi (its name copied; fi->line kept). 0, or -1 on OOM
 * (am unchanged). Does not check the manifest invariants: format does. */
int aof_manifest_add(aof_manifest *am, const aof_info *fi);
/* The number of distinct shards named, i.e. the highest shard + 1 (1 for a
 * Redis manifest, 0 for an empty one). */
int aof_manifest_shards(const aof_manifest *am);
/* The base of a shard, or NULL. */
const aof_info *aof_manifest_base(const aof_manifest *am, int shard);
/* The files to load for a shard, in load order: its base (if any), then its
 * INCR files in manifest order (history files are never loaded). Fills
 * out[0..cap) and returns how many there are (may exceed cap: then only cap
 * were stored). */
size_t aof_manifest_load_order(const aof_manifest *am, int shard, const aof_info **out, size_t cap);

/* One manifest line as Redis's aofInfoFormat writes it (name quoted with
 * sdscatrepr rules when it needs it), plus " shard <k>" when am->ringkv and
 * " start <pos>" / " end <pos>" when set; '\n' terminated. -1 (out
 * unchanged) on OOM or when the line would exceed AOF_MANIFEST_MAX_LINE. */
int aof_manifest_format_line(rk_buf *out, const aof_info *fi, int ringkv);
/* The whole manifest: per shard in ascending order its base, then its
 * history files, then its INCR files (Redis's order for one shard). 0, or
 * -1 with err (an invariant broken, or OOM). */
int aof_manifest_format(const aof_manifest *am, rk_buf *out, char *err, size_t errlen);

/* Writes data to dir/name atomically: dir/temp-<name> is written, fsynced
 * and renamed over dir/name, then dir itself is fsynced, so a crash leaves
 * either the old file or the new one. Blocking system calls: call it where
 * blocking is allowed (start-up, a background thread, the offline tools).
 * 0, or -1 with err naming the step and file (the temp file is removed). */
int aof_write_file_atomic(const char *dir, const char *name, const void *data, size_t len, char *err,
                          size_t errlen);
/* aof_manifest_format then aof_write_file_atomic. */
int aof_manifest_write(const aof_manifest *am, const char *dir, const char *name, char *err, size_t errlen);

/* ringkv's file names inside appenddirname, for prefix = appendfilename:
 *   <prefix>.s<shard>.<seq>.base.rdb   (or .base.aof when rdb is 0)
 *   <prefix>.s<shard>.<seq>.incr.aof
 *   <prefix>.manifest                  (Redis's manifest name)
 * Return snprintf's length; the name is cut when it does not fit (compare
 * the result with cap). */
int aof_name_base(char *buf, size_t cap, const char *prefix, int shard, long long seq, int rdb);
int aof_name_incr(char *buf, size_t cap, const char *prefix, int shard, long long seq);
int aof_name_manifest(char *buf, size_t cap, const char *prefix);

#endif
