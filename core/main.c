/* main.c: start-up, the one place that wires every layer together.
 *
 * Thread: the start-up thread. It parses the configuration, opens the
 * listening sockets (one SO_REUSEPORT socket per shard and address, so the
 * kernel spreads connections over the shards), starts the shard threads,
 * then waits for SIGTERM/SIGINT and stops them in order. Signals are
 * blocked in every other thread, so only this one receives them. */
#include <arpa/inet.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/command.h"
#include "core/config.h"
#include "core/dict.h"
#include "core/log.h"
#include "core/shard.h"
#include "storage/aof.h"
#include "storage/persist.h"
#include "storage/rdb_load.h"
#include "repl/repl.h"

#define RINGKV_VERSION "0.1.0"

static void crash_handler(int sig, siginfo_t *info, void *uctx) {
    (void)uctx;
    char line[160];
    snprintf(line, sizeof(line), "\n\n=== RINGKV BUG REPORT START ===\nCrashed by signal: %d (%s), address %p\nSTACK TRACE:\n",
             sig, strsignal(sig), info ? info->si_addr : NULL);
    log_raw_fd_write(line);
    void *frames[64];
    int n = backtrace(frames, 64);
    backtrace_symbols_fd(frames, n, log_fd());
    log_raw_fd_write("=== RINGKV BUG REPORT END ===\n");
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_crash_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) sigaction(sigs[i], &sa, NULL);
}

/* Opens a listening socket for one bind address. Returns the fd, -1 on
 * error (errno set), or -2 when the address family is unavailable. With
 * reuseport the socket joins a group of sockets on the same port. */
static int listen_on(const char *addr, int port, int backlog, int reuseport) {
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof(ss));
    int v6 = strchr(addr, ':') != NULL;
    if (strcmp(addr, "*") == 0 || strcmp(addr, "0.0.0.0") == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sin->sin_port = htons((uint16_t)port);
        sslen = sizeof(*sin);
        v6 = 0;
    } else if (strcmp(addr, "::*") == 0 || strcmp(addr, "::") == 0) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = in6addr_any;
        sin6->sin6_port = htons((uint16_t)port);
        sslen = sizeof(*sin6);
    } else if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1) { errno = EINVAL; return -1; }
        sin6->sin6_port = htons((uint16_t)port);
        sslen = sizeof(*sin6);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) { errno = EINVAL; return -1; }
        sin->sin_port = htons((uint16_t)port);
        sslen = sizeof(*sin);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno == EAFNOSUPPORT ? -2 : -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return (e == EADDRNOTAVAIL || e == EAFNOSUPPORT) ? -2 : -1;
    }
    return fd;
}

/* How long start-up waits for a port still held by a process just killed. */
#define LISTEN_RETRY_MS 1000

/* One port for every shard: with port 0 the first socket picks it. */
static int open_listeners(rk_config *cfg, int fds[RK_MAX_SHARDS][16], int *nfds) {
    for (int s = 0; s < g_nshards; s++) nfds[s] = 0;
    for (int b = 0; b < cfg->n_bind; b++) {
        const char *addr = cfg->bind[b];
        int optional = addr[0] == '-';
        if (optional) addr++;
        /* SO_REUSEPORT would let us join another process's group on a
         * port already in use: bind once without it first, as a check. */
        if (cfg->port != 0) {
            int probe = listen_on(addr, cfg->port, 1, 0);
            /* A process killed with SIGKILL may hold its sockets a moment
             * longer: the kernel ends its io_uring requests (a pending
             * accept holds the listening socket) after the process is
             * gone. Bounded: LISTEN_RETRY_MS. */
            for (int waited = 0; probe == -1 && errno == EADDRINUSE && waited < LISTEN_RETRY_MS; waited += 50) {
                usleep(50 * 1000);
                probe = listen_on(addr, cfg->port, 1, 0);
            }
            if (probe >= 0) close(probe);
            else if (probe == -1) {
                rk_log(LL_WARNING, "Warning: Could not create server TCP listening socket %s:%d: bind: %s",
                       addr, cfg->port, strerror(errno));
                rk_log(LL_WARNING, "Failed listening on port %d (tcp), aborting.", cfg->port);
                return -1;
            }
        }
        for (int s = 0; s < g_nshards; s++) {
            int fd = listen_on(addr, cfg->port, (int)cfg->tcp_backlog, 1);
            if (fd < 0) {
                if (optional && s == 0) {
                    rk_log(LL_NOTICE, "Optional bind address %s:%d unavailable: %s", addr, cfg->port,
                           strerror(errno));
                    break;
                }
                rk_log(LL_WARNING, "Warning: Could not create server TCP listening socket %s:%d: %s", addr,
                       cfg->port, strerror(errno));
                rk_log(LL_WARNING, "Failed listening on port %d (tcp), aborting.", cfg->port);
                return -1;
            }
            if (cfg->port == 0) {
                struct sockaddr_storage ss;
                socklen_t len = sizeof(ss);
                getsockname(fd, (struct sockaddr *)&ss, &len);
                cfg->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                          : ((struct sockaddr_in6 *)&ss)->sin6_port);
            }
            fds[s][nfds[s]++] = fd;
        }
    }
    if (nfds[0] == 0) {
        rk_log(LL_WARNING, "Failed listening on port %d (tcp), aborting.", cfg->port);
        return -1;
    }
    return 0;
}

static void daemonize(void) {
    pid_t pid = fork();
    if (pid < 0) exit(1);
    if (pid > 0) exit(0);
    setsid();
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO) close(fd);
    }
}

static void make_run_id(void) {
    unsigned char raw[20];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        for (size_t i = 0; i < sizeof(raw); i++) raw[i] = (unsigned char)(rand() ^ (int)time(NULL));
    }
    for (size_t i = 0; i < sizeof(raw); i++) snprintf(g_run_id + i * 2, 3, "%02x", raw[i]);
}

static void seed_hash(void) {
    uint8_t seed[16];
    if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) memset(seed, 0x5a, sizeof(seed));
    dict_set_hash_seed(seed);
}

typedef struct startup_load {
    const rk_config *cfg;  /* appendonly yes: the AOF instead of dump.rdb */
    const char *path;
    int rc;
    char err[512];
    int done_fd;       /* written once when the load ends */
} startup_load;

static void *startup_load_main(void *p)
{
    startup_load *l = p;
    rdb_load_result res;
    memset(&res, 0, sizeof res);
    if (l->cfg->appendonly)
        l->rc = aof_startup(l->cfg, l->err, sizeof l->err); /* dump.rdb is not loaded, as Redis 7.0 */
    else
        l->rc = rdb_load_into_shards(l->path, &res, l->err, sizeof l->err);
    ssize_t n;
    do
        n = write(l->done_fd, "x", 1);
    while (n < 0 && errno == EINTR);
    return NULL;
}

/* Loads dump.rdb into the running shards on a loading thread; the shards
 * answer -LOADING meanwhile. 0 when loaded (or no file), -1 when the file
 * cannot be loaded whole, 1 when SIGTERM/SIGINT came first (Redis exits at
 * once then, without saving). */
static int load_data_from_disk(const rk_config *cfg, const sigset_t *stop_signals)
{
    static startup_load l; /* outlives main's frame if the process exits mid-load */
    int fds[2];
    l.cfg = cfg;
    l.path = cfg->dbfilename;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        rk_log(LL_WARNING, "Cannot load the DB: pipe: %s", strerror(errno));
        return -1;
    }
    l.done_fd = fds[1];
    pthread_t th;
    if (pthread_create(&th, NULL, startup_load_main, &l) != 0) {
        rk_log(LL_WARNING, "Cannot load the DB: no loading thread");
        return -1;
    }
    for (;;) {
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0) break;
        const struct timespec now = {0, 0};
        siginfo_t si;
        int sig = sigtimedwait(stop_signals, &si, &now);
        if (sig > 0) {
            rk_log(LL_WARNING, "Received %s while loading the DB: exiting now.", sig == SIGINT ? "SIGINT" : "SIGTERM");
            return 1;
        }
    }
    pthread_join(th, NULL);
    close(fds[0]);
    close(fds[1]);
    if (l.rc < 0) {
        rk_log(LL_WARNING, "Fatal error loading the DB: %s. Exiting.", l.err);
        return -1;
    }
    return 0;
}

/* Waits for SIGTERM/SIGINT. A signal from SHUTDOWN (sigqueue with
 * RK_SHUTDOWN_SAVED) has done its save already; any other first saves when
 * save points exist, and a failed save keeps the server running, as Redis. */
static void wait_for_shutdown(const sigset_t *stop_signals)
{
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(stop_signals, &si);
        if (sig < 0) continue; /* EINTR */
        if (si.si_code == SI_QUEUE && si.si_pid == getpid() && si.si_value.sival_int == RK_SHUTDOWN_SAVED) return;
        rk_log(LL_WARNING, "Received %s scheduling shutdown...", sig == SIGINT ? "SIGINT" : "SIGTERM");
        if (persist_save_before_exit() == 0) return;
        rk_log(LL_WARNING, "SIGTERM received but errors trying to shut down the server, check the logs for more "
                           "information");
    }
}

int main(int argc, char **argv) {
    rk_config cfg;
    config_init_defaults(&cfg);
    const char *conf_path = NULL;
    int argi = 1;
    if (argc >= 2 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
        printf("ringkv server v=%s (Redis 7.0 compatible)\n", RINGKV_VERSION);
        return 0;
    }
    if (argc >= 2 && argv[1][0] != '-') {
        conf_path = argv[1];
        argi = 2;
    }
    char err[1024];
    if (config_load(&cfg, conf_path, argc - argi, argv + argi, err, sizeof(err)) != 0) {
        fprintf(stderr, "\n%s\n", err);
        return 1;
    }
    if (cfg.daemonize) daemonize();
    log_init(cfg.logfile, cfg.loglevel);
    install_crash_handler();
    signal(SIGPIPE, SIG_IGN);
    /* A file-size limit (RLIMIT_FSIZE) must fail the write with EFBIG, not kill us. */
    signal(SIGXFSZ, SIG_IGN);
    if (!realpath("/proc/self/exe", g_executable)) snprintf(g_executable, sizeof(g_executable), "%s", argv[0]);

    rk_log(LL_NOTICE, "oO0OoO0OoO0Oo ringkv is starting oO0OoO0OoO0Oo");
    rk_log(LL_NOTICE, "ringkv version=%s, Redis 7.0 compatible, bits=64, pid=%d, just started",
           RINGKV_VERSION, (int)getpid());
    if (conf_path) rk_log(LL_NOTICE, "Configuration loaded");
    else rk_log(LL_WARNING, "Warning: no config file specified, using the default config.");
    if (cfg.pidfile && cfg.pidfile[0]) {
        FILE *fp = fopen(cfg.pidfile, "w");
        if (fp) { fprintf(fp, "%d\n", (int)getpid()); fclose(fp); }
        else rk_log(LL_WARNING, "Failed to write PID file: %s", strerror(errno));
    }

    g_start_ms = rk_mstime();
    make_run_id();
    seed_hash();
    if (rk_alloc_thread_init() != 0 || cmdtable_init() != 0) {
        rk_log(LL_WARNING, "Out of memory building the command table");
        return 1;
    }
    g_nshards = cfg.shards;

    static int fds[RK_MAX_SHARDS][16];
    static int nfds[RK_MAX_SHARDS];
    if (open_listeners(&cfg, fds, nfds) != 0) return 1;

    /* Shard threads inherit this mask: only the start-up thread takes signals. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    persist_install_plugins();
    aof_install_plugins();
    repl_install_plugins();
    for (int i = 0; i < g_nshards; i++) {
        g_shards[i] = shard_create(i, &cfg, err, sizeof(err));
        if (!g_shards[i]) { rk_log(LL_WARNING, "Cannot create shard %d: %s", i, err); return 1; }
    }
    if (cfg.appendonly) aof_mark_loading();
    else rdb_load_mark_loading(cfg.dbfilename);
    for (int i = 0; i < g_nshards; i++) {
        if (shard_start(g_shards[i], fds[i], nfds[i], err, sizeof(err)) != 0) {
            rk_log(LL_WARNING, "Cannot start %s", err);
            shards_stop_all();
            shards_join_all();
            return 1;
        }
    }
    rk_log(LL_NOTICE, "Server initialized with %d shard(s) on %s", g_nshards, shard_backend_name(g_shards[0]));
    int loaded = load_data_from_disk(&cfg, &stop_signals);
    if (loaded != 0) {
        shards_stop_all();
        if (loaded > 0) {
            if (cfg.pidfile && cfg.pidfile[0]) unlink(cfg.pidfile);
            _exit(0); /* the loading thread waits on stopped shards: do not join it */
        }
        shards_join_all();
        return 1;
    }
    /* After loading: the feeds and a `replicaof` link start from the loaded data. */
    if (repl_start(&cfg, err, sizeof(err)) != 0) {
        rk_log(LL_WARNING, "Cannot start the replication thread: %s", err);
        shards_stop_all();
        shards_join_all();
        return 1;
    }
    rk_log(LL_NOTICE, "Ready to accept connections tcp on port %d", cfg.port);

    wait_for_shutdown(&stop_signals);
    repl_stop();
    shards_stop_all();
    shards_join_all();
    if (cfg.pidfile && cfg.pidfile[0]) unlink(cfg.pidfile);
    rk_log(LL_WARNING, "ringkv is now ready to exit, bye bye...");
    return 0;
}
