/* log.h: Redis's log line format: "pid:role dd Mon yyyy hh:mm:ss.mmm * message".
 * Any thread may log; each line is one write(2) so lines never interleave. */
#ifndef RK_CORE_LOG_H
#define RK_CORE_LOG_H

void log_init(const char *logfile, int level); /* "" or NULL: stdout */
void log_set_level(int level);
void rk_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Async-signal-safe: write a raw message (crash handler). */
void log_raw_fd_write(const char *msg);
int log_fd(void);

/* Role char in each line: 'M' master (default), 'S' replica, 'C' child. */
void log_set_role(char role);

#endif
