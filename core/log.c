/* log.c: the server log in Redis's line format
 * "<pid>:<role> <dd Mon yyyy HH:MM:SS.mmm> <level char> <message>".
 *
 * Threads: any thread may call rk_log and log_set_level at any time;
 * log_init runs once on the start-up thread before other threads exist.
 * Each line is built whole in a stack buffer and written with one write(2)
 * on an O_APPEND descriptor, so lines from different threads never
 * interleave. log_raw_fd_write is async-signal-safe (crash handler).
 *
 * Invariants: the log fd is stdout (1) or a file opened once for append;
 * it never changes after log_init. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"

#define LOG_MAX_MSG 1024     /* as Redis's LOG_MAX_LEN: longer messages are cut */

static int log_fd_out = STDOUT_FILENO;
static _Atomic int log_level = LL_NOTICE;
static _Atomic char log_role = 'M';

/* Writes all of buf, retrying short writes and EINTR; async-signal-safe. */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return; /* nowhere to report a failing log */
        }
        buf += n;
        len -= (size_t)n;
    }
}

void log_init(const char *logfile, int level)
{
    log_level = level;
    if (!logfile || !logfile[0]) {
        if (log_fd_out > STDERR_FILENO) close(log_fd_out);
        log_fd_out = STDOUT_FILENO;
        return;
    }
    int fd = open(logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        /* config_load checked the file opens; fall back to stdout. */
        fprintf(stderr, "Can't open the log file %s: %s\n", logfile, strerror(errno));
        log_fd_out = STDOUT_FILENO;
        return;
    }
    if (log_fd_out > STDERR_FILENO) close(log_fd_out);
    log_fd_out = fd;
}

void log_set_level(int level)
{
    log_level = level;
}

void log_set_role(char role)
{
    log_role = role;
}

int log_fd(void)
{
    return log_fd_out;
}

static const char level_chars[] = ".-*#";

void rk_log(int level, const char *fmt, ...)
{
    if (level < log_level || level < LL_DEBUG || level > LL_WARNING) return;

    char line[LOG_MAX_MSG + 128];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);

    size_t off = (size_t)snprintf(line, sizeof line, "%d:%c ", (int)getpid(), (char)log_role);
    off += strftime(line + off, sizeof line - off, "%d %b %Y %H:%M:%S.", &tm);
    off += (size_t)snprintf(line + off, sizeof line - off, "%03d %c ", (int)(tv.tv_usec / 1000),
                            level_chars[level]);

    char msg[LOG_MAX_MSG];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t mlen = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;

    if (off + mlen + 1 > sizeof line) mlen = sizeof line - off - 1;
    memcpy(line + off, msg, mlen);
    off += mlen;
    line[off++] = '\n';
    write_all(log_fd_out, line, off);
}

void log_raw_fd_write(const char *msg)
{
    write_all(log_fd_out, msg, strlen(msg));
}
