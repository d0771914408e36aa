/* aof_file.h: AOF command streams, read and written.
 *
 * An AOF file (a legacy appendonly.aof, a RESP base, an INCR segment) is a
 * sequence of items: commands as RESP arrays of bulk strings
 * ("*<argc>\r\n" then argc times "$<len>\r\n<bytes>\r\n") and Redis 7's
 * annotations (a line starting with '#', e.g. "#TS:<unix seconds>\r\n").
 * A legacy file may start with an RDB preamble ("REDIS..."); the command
 * stream then starts right after the RDB's checksum (aof_rdb_end).
 *
 * The reader works over the whole file in memory (mapped) and hands out
 * commands whose arguments point into it, with exact byte offsets. It tells
 * three endings apart:
 *   clean end     every byte was consumed and no MULTI is open;
 *   truncated     the file ends inside an item, or inside MULTI ... EXEC:
 *                 `ok_up_to` is where aof-load-truncated / --fix cut back to;
 *   corrupt       a byte that no valid file can have there: `bad` is its
 *                 offset (redis-check-aof's), `err` the reason.
 * Reasons use redis-check-aof 7.0's texts where it has one.
 *
 * Threads: a reader belongs to its caller (the loading shard, or a tool);
 * its argument arrays come from rk_malloc on that thread. */
#ifndef RK_STORAGE_AOF_FILE_H
#define RK_STORAGE_AOF_FILE_H
#include <stddef.h>
#include <stdint.h>
#include "io/buf.h"

/* Redis's AOF_ANNOTATION_LINE_MAX_LEN: an annotation line, "\r\n"
 * included, is shorter than this. */
#define AOF_ANNOTATION_MAX 1024
/* Redis's AOF_REWRITE_ITEMS_PER_CMD. */
#define AOF_REWRITE_ITEMS_PER_CMD 64

/* What a file starts with. Redis decides the same way: the first five
 * bytes "REDIS" make it an RDB (a base, or a legacy preamble). */
enum aof_file_kind { AOF_FILE_EMPTY = 0, AOF_FILE_RESP = 1, AOF_FILE_RDB = 2 };
int aof_file_kind(const unsigned char *p, size_t len);

/* Results of aof_reader_next. */
enum {
    AOF_NEXT_END = 0,         /* clean end */
    AOF_NEXT_CMD = 1,         /* r->cmd holds a command */
    AOF_NEXT_ANNOTATION = 2,  /* r->note/r->note_len hold the line after '#', without "\r\n" */
    AOF_NEXT_TRUNCATED = -1,
    AOF_NEXT_CORRUPT = -2,
    AOF_NEXT_NOMEM = -3,
};

/* One command; argv[i] points into the file and is not NUL-terminated.
 * Valid until the next aof_reader_next. */
typedef struct aof_cmd {
    int argc;
    const char **argv;
    const size_t *argvlen;
    size_t offset;            /* its '*' */
    size_t end;               /* one past its last "\r\n" */
} aof_cmd;

typedef struct aof_reader {
    const unsigned char *p;
    size_t len;
    size_t pos;               /* the next item's first byte */
    aof_cmd cmd;
    const char *note;         /* annotation text, into the file */
    size_t note_len;
    size_t note_offset;       /* its '#' */
    /* Bookkeeping, valid at every point. */
    unsigned long long commands; /* complete commands handed out */
    unsigned long long lines;    /* "\r\n" of commands consumed, redis-check-aof's count
                                    (annotations are not counted, as there) */
    int in_multi;             /* between a MULTI and its EXEC */
    size_t multi_offset;      /* that MULTI's '*' */
    size_t ok_up_to;          /* end of the last complete item outside MULTI ... EXEC */
    /* After TRUNCATED / CORRUPT (sticky: later calls return the same). */
    int status;               /* 0, or the AOF_NEXT_* error */
    size_t bad;               /* where the failing read started (redis-check-aof's epos) */
    int format_error;         /* CORRUPT because an item starts with neither '*' nor '#' */
    char err[160];
    /* Argument arrays, grown on demand: never more entries than arguments
     * actually present in the file (each takes at least 6 bytes). */
    const char **argv;
    size_t *argvlen;
    size_t argcap;
} aof_reader;

/* Reads p[start, len): start is 0, or aof_rdb_end's result for a file with
 * an RDB preamble. */
void aof_reader_init(aof_reader *r, const unsigned char *p, size_t len, size_t start);
void aof_reader_release(aof_reader *r);
/* The next item: AOF_NEXT_*. */
int aof_reader_next(aof_reader *r);

/* The end of an RDB at the start of p[0, len) (one past its checksum; past
 * the EOF byte for versions below 5), found with the RDB walker without
 * decoding values or checking the CRC. 0 with *end, or -1 with err and *bad
 * (the first bad byte). */
int aof_rdb_end(const unsigned char *p, size_t len, size_t *end, size_t *bad, char *err, size_t errlen);

/* A read-only mapping of a whole file (nothing mapped for an empty one). */
typedef struct aof_map {
    const unsigned char *p;
    size_t len;
} aof_map;
/* 0, or -1 with errno set. */
int aof_map_open(aof_map *m, const char *path);
void aof_map_close(aof_map *m);

/* ---- writing ------------------------------------------------------------ */

/* RESP as the AOF stores it: "*<argc>\r\n", "$<len>\r\n<bytes>\r\n". Each
 * returns 0, or -1 on OOM with out unchanged. */
int aof_put_array(rk_buf *out, long long count);
int aof_put_bulk(rk_buf *out, const void *p, size_t len);
int aof_put_bulk_ll(rk_buf *out, long long v);
/* A double as Redis 7.0's rioWriteBulkDouble: "%.17g". */
int aof_put_bulk_double(rk_buf *out, double d);
/* A whole command. */
int aof_put_command(rk_buf *out, int argc, const char *const *argv, const size_t *argvlen);
/* Redis's timestamp annotation "#TS:<unix seconds>\r\n". */
int aof_put_timestamp(rk_buf *out, long long unix_seconds);

#endif
