/* cmdtable.c: the merged command table, its lookup, key extraction and
 * arity checks.
 *
 * cmdtable_init() runs once on the start-up thread before any shard starts:
 * it copies every family's table (the families' tables are const, and ids
 * must be written), sorts the top-level commands by name for a binary
 * search, and numbers commands and subcommands for the per-shard
 * statistics arrays. Afterwards everything here is read-only and any thread
 * may call every function.
 *
 * Invariants: g_cmds is sorted by name (case-insensitively) and holds no
 * duplicate names; g_by_id[i]->id == i for i < g_nids. */
#include "core/command.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/log.h"
#include "core/object.h"

typedef struct cmd_meta {
    char *fullname;            /* "get", "config|get" */
    const rk_command *parent;  /* NULL for top-level commands */
} cmd_meta;

static rk_command *g_cmds;              /* top-level copies, sorted by name */
static int g_ncmds;
static const rk_command **g_by_id;      /* id -> command or subcommand copy */
static cmd_meta *g_meta;                /* id -> names */
static int g_nids;
static int g_initialized;

/* Name lookup: open addressing over lower-cased FNV-1a hashes. The table
 * is at least 4x the command count, so probes stay short. */
#define CMD_HASH_SLOTS 1024
typedef struct cmd_slot {
    const rk_command *cmd;
    uint32_t len;
} cmd_slot;
static cmd_slot g_hash[CMD_HASH_SLOTS];

static uint32_t name_hash(const char *p, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch + 32);
        h = (h ^ ch) * 16777619u;
    }
    return h;
}

static int hash_insert(const rk_command *cmd) {
    size_t len = strlen(cmd->name);
    uint32_t i = name_hash(cmd->name, len) & (CMD_HASH_SLOTS - 1);
    for (int probes = 0; probes < CMD_HASH_SLOTS; probes++, i = (i + 1) & (CMD_HASH_SLOTS - 1)) {
        if (g_hash[i].cmd) continue;
        g_hash[i].cmd = cmd;
        g_hash[i].len = (uint32_t)len;
        return 0;
    }
    return -1;
}

/* Case-insensitive order of a slice against a C string, as strcasecmp would. */
static int slice_cmp_nocase(rk_slice a, const char *b) {
    size_t blen = strlen(b);
    size_t n = a.len < blen ? a.len : blen;
    for (size_t i = 0; i < n; i++) {
        int ca = tolower((unsigned char)a.ptr[i]), cb = tolower((unsigned char)b[i]);
        if (ca != cb) return ca - cb;
    }
    return a.len < blen ? -1 : a.len > blen ? 1 : 0;
}

static int cmd_name_order(const void *a, const void *b) {
    const rk_command *x = a, *y = b;
    return strcasecmp(x->name, y->name);
}

static size_t table_len(const rk_command *t) {
    size_t n = 0;
    if (t)
        while (t[n].name) n++;
    return n;
}

/* A subcommand may be spelled "get" or "config|get" in its family table. */
static const char *short_name(const char *name) {
    const char *bar = strchr(name, '|');
    return bar ? bar + 1 : name;
}

static char *join_names(const char *parent, const char *sub) {
    size_t n = strlen(parent) + 1 + strlen(sub) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s|%s", parent, sub);
    return s;
}

static int name_taken(const rk_command *cmds, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcasecmp(cmds[i].name, name) == 0) return 1;
    return 0;
}

/* Copies every family's top-level entries, skipping duplicate names (the
 * first family listed wins) so lookups stay unambiguous. */
static int collect_commands(void) {
    const rk_command *families[] = {rk_string_commands, rk_key_commands, rk_server_commands,
                                    rk_conn_commands,   rk_list_commands, rk_hash_commands,
                                    rk_set_commands,    rk_zset_commands, rk_pubsub_commands,
                                    rk_multi_commands, rk_dump_commands, rk_persist_commands,
                                    rk_repl_commands, rk_script_commands, rk_function_commands,
                                    rk_stream_commands, rk_hll_commands, rk_geo_commands};
    size_t total = 0;
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) total += table_len(families[f]);
    g_cmds = calloc(total + 1, sizeof(rk_command));
    if (!g_cmds) return -1;
    g_ncmds = 0;
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        for (const rk_command *c = families[f]; c && c->name; c++) {
            if (name_taken(g_cmds, g_ncmds, c->name)) {
                rk_log(LL_WARNING, "command table: duplicate command '%s' ignored", c->name);
                continue;
            }
            g_cmds[g_ncmds++] = *c;
        }
    }
    qsort(g_cmds, (size_t)g_ncmds, sizeof(rk_command), cmd_name_order);
    return 0;
}

static int count_ids(void) {
    int n = g_ncmds;
    for (int i = 0; i < g_ncmds; i++) n += (int)table_len(g_cmds[i].subcommands);
    return n;
}

static int register_id(const rk_command *cmd, char *fullname, const rk_command *parent) {
    if (!fullname) return -1;
    assert(g_nids < count_ids());
    g_by_id[g_nids] = cmd;
    g_meta[g_nids].fullname = fullname;
    g_meta[g_nids].parent = parent;
    return g_nids++;
}

/* Replaces a parent's subcommand table by a numbered copy. */
static int copy_subcommands(rk_command *parent) {
    size_t n = table_len(parent->subcommands);
    if (n == 0) {
        parent->subcommands = NULL;
        return 0;
    }
    rk_command *subs = calloc(n + 1, sizeof(rk_command));
    if (!subs) return -1;
    for (size_t j = 0; j < n; j++) {
        subs[j] = parent->subcommands[j];
        subs[j].name = short_name(subs[j].name);
        subs[j].subcommands = NULL; /* Redis nests one level only */
        subs[j].id = register_id(&subs[j], join_names(parent->name, subs[j].name), parent);
        if (subs[j].id < 0) {
            free(subs);
            return -1;
        }
    }
    parent->subcommands = subs;
    return 0;
}

int cmdtable_init(void) {
    if (g_initialized) return 0;
    if (collect_commands() < 0) return -1;
    int nids = count_ids();
    g_by_id = calloc((size_t)nids + 1, sizeof(*g_by_id));
    g_meta = calloc((size_t)nids + 1, sizeof(*g_meta));
    if (!g_by_id || !g_meta) return -1;
    g_nids = 0;
    /* Top-level ids first so ids 0..g_ncmds-1 follow the sorted order. */
    for (int i = 0; i < g_ncmds; i++) {
        char *full = strdup(g_cmds[i].name);
        g_cmds[i].id = register_id(&g_cmds[i], full, NULL);
        if (g_cmds[i].id < 0) return -1;
    }
    for (int i = 0; i < g_ncmds; i++)
        if (copy_subcommands(&g_cmds[i]) < 0) return -1;
    assert(g_nids == nids);
    assert(g_ncmds * 4 <= CMD_HASH_SLOTS);
    for (int i = 0; i < g_ncmds; i++)
        if (hash_insert(&g_cmds[i]) < 0) return -1;
    g_initialized = 1;
    return 0;
}

const rk_command *cmd_lookup(rk_slice name) {
    uint32_t i = name_hash(name.ptr, name.len) & (CMD_HASH_SLOTS - 1);
    for (int probes = 0; probes < CMD_HASH_SLOTS; probes++, i = (i + 1) & (CMD_HASH_SLOTS - 1)) {
        const cmd_slot *slot = &g_hash[i];
        if (!slot->cmd) return NULL;
        if (slot->len == name.len && strncasecmp(slot->cmd->name, name.ptr, name.len) == 0) return slot->cmd;
    }
    return NULL;
}

const rk_command *cmd_lookup_sub(const rk_command *parent, rk_slice sub) {
    if (!parent || !parent->subcommands) return NULL;
    for (const rk_command *s = parent->subcommands; s->name; s++)
        if (slice_cmp_nocase(sub, s->name) == 0) return s;
    return NULL;
}

int cmd_count(void) { return g_ncmds; }

const rk_command *cmd_by_index(int i) {
    assert(i >= 0 && i < g_ncmds);
    return &g_cmds[i];
}

int cmd_total_ids(void) { return g_nids; }

const rk_command *cmd_by_id(int id) {
    if (id < 0 || id >= g_nids) return NULL;
    return g_by_id[id];
}

/* The id is trusted only when it maps back to this very entry: a caller
 * may hold a family's original (unnumbered) entry. */
static int known_id(const rk_command *cmd) {
    return cmd && cmd->id >= 0 && cmd->id < g_nids && g_by_id[cmd->id] == cmd;
}

const char *cmd_full_name(const rk_command *cmd) {
    if (known_id(cmd)) return g_meta[cmd->id].fullname;
    return cmd && cmd->name ? cmd->name : "";
}

const rk_command *cmd_parent(const rk_command *cmd) {
    return known_id(cmd) ? g_meta[cmd->id].parent : NULL;
}

/* Begin search of one spec: the argv index where its keys start, 0 when
 * a keyword was not found (the spec then contributes nothing). */
static int spec_first(const rk_keyspec *ks, int argc, const rk_slice *argv) {
    if (!ks->bs_keyword) return ks->bs_index;
    int startfrom = ks->bs_startfrom ? ks->bs_startfrom : ks->bs_index;
    int start = startfrom > 0 ? startfrom : argc + startfrom;
    int end = startfrom > 0 ? argc - 1 : 0;
    int dir = start <= end ? 1 : -1;
    /* As Redis, the end index itself is not examined. */
    for (int i = start; i != end; i += dir) {
        if (i >= argc || i < 1) break;
        if (slice_cmp_nocase(argv[i], ks->bs_keyword) == 0) return i + 1;
    }
    return 0;
}

/* Adds the keys one spec finds. Returns the new count, -1 when malformed. */
static int spec_keys(const rk_command *cmd, const rk_keyspec *ks, int argc, const rk_slice *argv,
                     int *pos, int n, int max) {
    int first = spec_first(ks, argc, argv);
    if (first <= 0) return n;
    int last, step;
    if (!ks->fk_keynum) {
        if (ks->fk_lastkey >= 0)
            last = first + ks->fk_lastkey;
        else if (ks->fk_limit <= 1)
            last = argc + ks->fk_lastkey;
        else
            last = first + ((argc - first) / ks->fk_limit + ks->fk_lastkey);
        step = ks->fk_step > 0 ? ks->fk_step : 1;
    } else {
        int numidx = first + ks->kn_idx;
        long long numkeys;
        if (numidx >= argc) return -1;
        if (!rk_str2ll(argv[numidx].ptr, argv[numidx].len, &numkeys) || numkeys < 0) return -1;
        /* Zero keys is well-formed here (EVAL ... 0); the proc judges it. */
        if (numkeys == 0) return n;
        if (numkeys > argc) return -1;
        first += ks->kn_first;
        last = first + (int)numkeys - 1;
        step = ks->kn_step > 0 ? ks->kn_step : 1;
    }
    /* As Redis: a variadic command's spec may find no key at all (PFMERGE
     * dest: the sources' spec starts past the end). */
    if (cmd->arity < 0 && (first >= argc || last < first)) return n;
    if (last >= argc || last < first || first >= argc) return -1;
    for (int i = first; i <= last; i += step) {
        /* Variadic commands get no arity check at dispatch; stray
         * positions are left for the proc to reject. */
        if (i >= argc) {
            if (cmd->arity < 0) continue;
            return -1;
        }
        if (n < max) pos[n] = i;
        n++;
    }
    return n;
}

/* Commands that declare only the legacy first/last/step triple. */
static int legacy_keys(const rk_command *cmd, int argc, int *pos, int max) {
    if (cmd->first_key <= 0) return 0;
    int last = cmd->last_key < 0 ? argc + cmd->last_key : cmd->last_key;
    int step = cmd->key_step > 0 ? cmd->key_step : 1;
    int n = 0;
    for (int i = cmd->first_key; i <= last && i < argc; i += step) {
        if (n < max) pos[n] = i;
        n++;
    }
    return n;
}

int cmd_get_keys(const rk_command *cmd, int argc, const rk_slice *argv, int *pos, int max) {
    if (!cmd) return -1;
    int n;
    if (cmd->n_keyspecs == 0) {
        n = legacy_keys(cmd, argc, pos, max);
    } else {
        n = 0;
        for (int k = 0; k < cmd->n_keyspecs && k < RK_MAX_KEYSPECS; k++) {
            n = spec_keys(cmd, &cmd->keyspecs[k], argc, argv, pos, n, max);
            if (n < 0) return -1;
        }
    }
    return n < max ? n : max;
}

int cmd_check_arity(const rk_command *cmd, int argc, rk_reply *r, const rk_slice *argv) {
    (void)argv;
    assert(cmd);
    if ((cmd->arity > 0 && argc != cmd->arity) || (cmd->arity < 0 && argc < -cmd->arity)) {
        if (r) reply_errorf(r, "ERR wrong number of arguments for '%s' command", cmd_full_name(cmd));
        return -1;
    }
    return 0;
}
