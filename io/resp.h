/* resp.h: RESP2/RESP3 request parser (multibulk and inline) and reply scanner.
 *
 * Owner: one parser per connection, used only by the connection's thread.
 * The parser keeps offsets, never pointers, so the caller may grow (realloc)
 * its query buffer between calls as long as the unconsumed bytes stay at the
 * start of what it passes in. Slices returned in resp_args point into the
 * caller's buffer and are valid until the caller changes that buffer; those
 * of an inline command point into resp_args and are valid until the next call.
 * A line longer than its limit is an error even if its terminator has already
 * arrived, so results never depend on how the bytes were split. */
#ifndef RK_IO_RESP_H
#define RK_IO_RESP_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

#define RESP_MAX_MULTIBULK 2147483647LL      /* INT_MAX, as Redis; argv grows as args arrive */
#define RESP_UNAUTH_MAX_MULTIBULK 10         /* Redis's limits before AUTH */
#define RESP_UNAUTH_MAX_BULK 16384
#define RESP_MAX_INLINE (64 * 1024)           /* PROTO_INLINE_MAX_SIZE */
#define RESP_MAX_HEADER_LINE (64 * 1024)      /* a "*N" or "$N" line longer than this is an error */

/* Zero-initialise ({0}) before first use; pass the same resp_args to every
 * call for one connection (a partial command's arguments live in it). */
typedef struct resp_args {
    size_t argc;
    size_t cap;        /* capacity of argv */
    rk_slice *argv;    /* malloc'd array, reused between commands */
    size_t *arg_off;   /* internal: argument offsets while a command is partial (cap entries) */
    rk_buf inline_store; /* internal: unescaped inline arguments; inline argv slices point here */
} resp_args;

typedef struct resp_parser {
    int64_t max_bulk_len;  /* proto-max-bulk-len */
    /* Internal state for resuming a partial multibulk command. */
    int in_multibulk;
    int64_t multibulk_left;   /* args still to read */
    int64_t bulk_len;         /* -1 while expecting a "$N" line */
    size_t pos;               /* offset of the next unread byte, relative to the command start */
    int inline_cmd;
    size_t line_scanned;      /* bytes after pos already known to hold no line terminator */
    char err_text[48];        /* room for the formatted "expected '$'" error */
    int unauthenticated;      /* set by the caller: apply Redis's small pre-AUTH limits */
} resp_parser;

enum {
    RESP_NEED_MORE = 0,  /* incomplete: call again with more bytes */
    RESP_COMMAND = 1,    /* one command parsed into args; *consumed bytes belong to it */
    RESP_EMPTY = 2,      /* an empty line or "*0"/"*-1": consume *consumed bytes, no command */
    RESP_ERROR = -1,     /* protocol error; *err is Redis's message text without "-ERR " */
};

void resp_parser_init(resp_parser *p, int64_t max_bulk_len);
void resp_args_free(resp_args *a);

/* Parses at most one command from buf[0, len). On RESP_COMMAND/RESP_EMPTY
 * *consumed is the byte count of that command and the parser is reset.
 * On RESP_NEED_MORE, *hint (if not NULL) gets the total byte count the
 * command needs when known (a large bulk), else 0, so the caller can reserve.
 * Errors (Redis's texts): "Protocol error: invalid multibulk length",
 * "Protocol error: invalid bulk length", "Protocol error: expected '$', got 'X'",
 * "Protocol error: too big inline request", "Protocol error: too big mbulk count string",
 * "Protocol error: too big bulk count string", "Protocol error: unbalanced quotes in request".
 * Allocation failure is RESP_ERROR with "out of memory". */
int resp_parse_command(resp_parser *p, const char *buf, size_t len, resp_args *out,
                       size_t *consumed, size_t *hint, const char **err);

/* Length in bytes of the one complete RESP2/RESP3 reply value starting at buf,
 * 0 if incomplete, -1 if malformed. Used to split replies that shards send back. */
int64_t resp_reply_len(const char *buf, size_t len);

#endif
