/* t_geo.c: the GEO commands. A geo set is a sorted set whose scores are
 * 52-bit geohashes (core/geohash.h); every command here reads or writes an
 * ordinary zset, so persistence, DUMP and replication need nothing of
 * their own. Searches follow Redis 7.0's georadiusGeneric: the same boxes
 * in the same order, the same filters and replies, so results match
 * redis-server's for the same data.
 *
 * Thread: the shard thread owning the keys; a STORE destination on another
 * shard runs through the multi-key executor (core/multikey.c).
 *
 * Propagation: GEOADD is journaled as the ZADD it performs (as Redis
 * rewrites it); the STORE variants and GEOSEARCHSTORE are journaled as
 * themselves, as Redis does (they are deterministic for the same data). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/command.h"
#include "core/db.h"
#include "core/geohash.h"
#include "core/object.h"
#include "core/shard.h"
#include "core/t_zset.h"

/* ---- argument helpers (Redis's extract*OrReply) -------------------------- */

static int arg_lonlat(rk_ctx *c, int i, double *xy)
{
    if (ctx_arg_double(c, i, &xy[0]) < 0 || ctx_arg_double(c, i + 1, &xy[1]) < 0)
        return -1;
    if (xy[0] < GEO_LONG_MIN || xy[0] > GEO_LONG_MAX || xy[1] < GEO_LAT_MIN || xy[1] > GEO_LAT_MAX) {
        ctx_errorf(c, "ERR invalid longitude,latitude pair %f,%f", xy[0], xy[1]);
        return -1;
    }
    return 0;
}

/* Metres per unit; -1 (replied) for an unknown unit. */
static double arg_unit(rk_ctx *c, int i)
{
    static const struct {
        const char *name;
        double metres;
    } units[] = {{"m", 1}, {"km", 1000}, {"ft", 0.3048}, {"mi", 1609.34}};
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
        if (ctx_arg_is(c, i, units[k].name))
            return units[k].metres;
    ctx_error(c, "ERR unsupported unit provided. please use M, KM, FT, MI");
    return -1;
}

static int arg_double_msg(rk_ctx *c, int i, double *out, const char *msg)
{
    if (!rk_str2d(c->argv[i].ptr, c->argv[i].len, out)) {
        ctx_error(c, msg);
        return -1;
    }
    return 0;
}

static int arg_distance(rk_ctx *c, int i, double *conversion, double *radius)
{
    if (arg_double_msg(c, i, radius, "ERR need numeric radius") < 0)
        return -1;
    if (*radius < 0) {
        ctx_error(c, "ERR radius cannot be negative");
        return -1;
    }
    *conversion = arg_unit(c, i + 1);
    return *conversion < 0 ? -1 : 0;
}

static int arg_box(rk_ctx *c, int i, double *conversion, double *width, double *height)
{
    if (arg_double_msg(c, i, width, "ERR need numeric width") < 0 ||
        arg_double_msg(c, i + 1, height, "ERR need numeric height") < 0)
        return -1;
    if (*height < 0 || *width < 0) {
        ctx_error(c, "ERR height or width cannot be negative");
        return -1;
    }
    *conversion = arg_unit(c, i + 2);
    return *conversion < 0 ? -1 : 0;
}

/* The zset at key, NULL when absent; -1 (replied) when of another type. */
static int lookup_geo(rk_ctx *c, rk_slice key, rk_obj **out)
{
    *out = db_lookup(c->shard, c->db, key, LOOKUP_NONE);
    if (*out && (*out)->type != OBJ_ZSET) {
        ctx_wrongtype(c);
        return -1;
    }
    return 0;
}

static int member_lonlat(rk_obj *z, rk_slice member, double *xy)
{
    double score;
    if (!zset_score(z, member.ptr, member.len, &score))
        return -1;
    return geo_decode_score(score, xy) ? 0 : -1;
}

/* Redis's fixedpoint_d2string(d, 4): rounded to 4 decimals with llrint. */
static void reply_distance(rk_ctx *c, double d)
{
    char buf[64];
    int n;
    if (d == 0) {
        n = snprintf(buf, sizeof(buf), "0.0000");
    } else {
        long long v = llrint(d * 10000.0);
        unsigned long long a = v < 0 ? (unsigned long long)(-(v + 1)) + 1 : (unsigned long long)v;
        n = snprintf(buf, sizeof(buf), "%s%llu.%04llu", v < 0 ? "-" : "", a / 10000, a % 10000);
    }
    reply_bulk(&c->r, buf, (size_t)n);
}

/* ---- GEOADD ---------------------------------------------------------------- */

static void cmd_geoadd(rk_ctx *c)
{
    int nx = 0, xx = 0, first = 2;
    for (; first < c->argc; first++) {
        if (ctx_arg_is(c, first, "nx"))
            nx = 1;
        else if (ctx_arg_is(c, first, "xx"))
            xx = 1;
        else if (!ctx_arg_is(c, first, "ch"))
            break;
    }
    if ((c->argc - first) % 3 || (xx && nx)) {
        ctx_syntax_error(c);
        return;
    }
    int elements = (c->argc - first) / 3;
    int zargc = first + elements * 2;
    /* The ZADD it runs: "zadd" key [options] score member ...; scores are
     * formatted into one block after the argument vector. */
    rk_slice *zargv = malloc(sizeof(rk_slice) * (size_t)zargc + (size_t)elements * 24);
    if (!zargv) {
        ctx_oom(c);
        return;
    }
    char *scores = (char *)(zargv + zargc);
    zargv[0] = (rk_slice){"zadd", 4};
    for (int i = 1; i < first; i++)
        zargv[i] = c->argv[i];
    for (int i = 0; i < elements; i++) {
        double xy[2];
        if (arg_lonlat(c, first + i * 3, xy) < 0) {
            free(zargv);
            return;
        }
        geo_bits hash;
        geo_encode_wgs84(xy[0], xy[1], GEO_STEP_MAX, &hash);
        char *sp = scores + i * 24;
        int n = snprintf(sp, 24, "%llu", (unsigned long long)geo_align52(hash));
        zargv[first + i * 2] = (rk_slice){sp, (size_t)n};
        zargv[first + i * 2 + 1] = c->argv[first + i * 3 + 2];
    }
    const rk_command *zadd = cmd_lookup((rk_slice){"zadd", 4});
    int argc = c->argc;
    rk_slice *argv = c->argv;
    const rk_command *self = c->cmd;
    ctx_propagate(c, zargc, zargv);
    c->argc = zargc;
    c->argv = zargv;
    c->cmd = zadd;
    zadd->proc(c);
    c->argc = argc;
    c->argv = argv;
    c->cmd = self;
    free(zargv);
}

/* ---- GEOHASH GEOPOS GEODIST ---------------------------------------------- */

static void cmd_geohash(rk_ctx *c)
{
    static const char alphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";
    rk_obj *z;
    if (lookup_geo(c, c->argv[1], &z) < 0)
        return;
    reply_array(&c->r, c->argc - 2);
    for (int j = 2; j < c->argc; j++) {
        double score, xy[2];
        if (!z || !zset_score(z, c->argv[j].ptr, c->argv[j].len, &score) || !geo_decode_score(score, xy)) {
            reply_null(&c->r);
            continue;
        }
        /* Our latitude range is Mercator's; the standard geohash string
         * uses -90..90, so the position is re-encoded for it. */
        geo_range lon = {-180, 180}, lat = {-90, 90};
        geo_bits hash;
        geo_encode(&lon, &lat, xy[0], xy[1], 26, &hash);
        char buf[11];
        for (int i = 0; i < 11; i++) {
            int idx = i == 10 ? 0 : (int)((hash.bits >> (52 - ((i + 1) * 5))) & 0x1f);
            buf[i] = alphabet[idx];
        }
        reply_bulk(&c->r, buf, 11);
    }
}

static void cmd_geopos(rk_ctx *c)
{
    rk_obj *z;
    if (lookup_geo(c, c->argv[1], &z) < 0)
        return;
    reply_array(&c->r, c->argc - 2);
    for (int j = 2; j < c->argc; j++) {
        double xy[2];
        if (!z || member_lonlat(z, c->argv[j], xy) < 0) {
            reply_null_array(&c->r);
            continue;
        }
        reply_array(&c->r, 2);
        reply_human_long_double(&c->r, xy[0]);
        reply_human_long_double(&c->r, xy[1]);
    }
}

static void cmd_geodist(rk_ctx *c)
{
    double to_meter = 1;
    if (c->argc == 5) {
        to_meter = arg_unit(c, 4);
        if (to_meter < 0)
            return;
    } else if (c->argc > 5) {
        ctx_syntax_error(c);
        return;
    }
    rk_obj *z;
    if (lookup_geo(c, c->argv[1], &z) < 0)
        return;
    double a[2], b[2];
    if (!z || member_lonlat(z, c->argv[2], a) < 0 || member_lonlat(z, c->argv[3], b) < 0) {
        reply_null(&c->r);
        return;
    }
    reply_distance(c, geo_distance(a[0], a[1], b[0], b[1]) / to_meter);
}

/* ---- searches -------------------------------------------------------------- */

typedef struct geo_point {
    double lon, lat, dist, score;
    rk_slice member; /* into `names` */
    size_t name_off;
} geo_point;

/* The points found, in discovery order. Bounded by the zset's size: each
 * member is found at most once (Redis skips a box equal to the last one). */
typedef struct geo_found {
    geo_point *pts;
    size_t n, cap;
    rk_buf names;
    const geo_shape *shape;
    unsigned long limit; /* ANY COUNT: stop at this many; 0 = all */
    int oom;
} geo_found;

static int visit_member(void *ud, rk_slice member, double score)
{
    geo_found *f = ud;
    double xy[2], dist = 0;
    if (geo_decode_score(score, xy) && geo_within(f->shape, xy[0], xy[1], &dist)) {
        if (f->n == f->cap) {
            size_t cap = f->cap ? f->cap * 2 : 16;
            geo_point *p = realloc(f->pts, cap * sizeof(*p));
            if (!p) {
                f->oom = 1;
                return 1;
            }
            f->pts = p;
            f->cap = cap;
        }
        size_t off = f->names.len;
        if (rk_buf_append(&f->names, member.ptr, member.len) != 0) {
            f->oom = 1;
            return 1;
        }
        f->pts[f->n++] = (geo_point){xy[0], xy[1], dist, score, {NULL, member.len}, off};
    }
    return f->limit && f->n >= f->limit;
}

static void search_boxes(rk_obj *z, geo_shape *shape, geo_found *f)
{
    geo_boxes boxes = geo_search_boxes(shape);
    int last = -1;
    for (int i = 0; i < 9; i++) {
        geo_bits b = boxes.box[i];
        if (b.bits == 0 && b.step == 0)
            continue;
        /* Huge radii make neighbours coincide: skip a box equal to the
         * one scanned before it. */
        if (last >= 0 && b.bits == boxes.box[last].bits && b.step == boxes.box[last].step)
            continue;
        if (f->limit && f->n >= f->limit)
            break;
        uint64_t min = geo_align52(b);
        b.bits++;
        uint64_t max = geo_align52(b);
        zset_scan_score_range(z, (double)min, (double)max, visit_member, f);
        if (f->oom)
            return;
        last = i;
    }
    for (size_t i = 0; i < f->n; i++)
        f->pts[i].member.ptr = f->names.data + f->pts[i].name_off;
}

static int by_dist_asc(const void *a, const void *b)
{
    const geo_point *x = a, *y = b;
    return x->dist > y->dist ? 1 : x->dist == y->dist ? 0 : -1;
}

static int by_dist_desc(const void *a, const void *b) { return -by_dist_asc(a, b); }

enum { SORT_NONE = 0, SORT_ASC, SORT_DESC };
enum {
    G_COORDS = 1 << 0,    /* GEORADIUS: centre from arguments */
    G_MEMBER = 1 << 1,    /* GEORADIUSBYMEMBER */
    G_NOSTORE = 1 << 2,   /* _RO variants */
    G_SEARCH = 1 << 3,    /* GEOSEARCH syntax */
    G_SEARCHSTORE = 1 << 4,
};

/* Stores the found points as a zset at key (or deletes key when none). */
static void store_result(rk_ctx *c, rk_slice key, geo_point *pts, long n, int storedist, double conversion)
{
    if (n == 0) {
        if (db_delete(c->shard, c->db, key))
            ctx_dirty(c, 1);
        reply_int(&c->r, 0);
        return;
    }
    size_t maxlen = 0;
    for (long i = 0; i < n; i++)
        if (pts[i].member.len > maxlen)
            maxlen = pts[i].member.len;
    long long lim_entries = c->shard->cfg.zset_max_listpack_entries;
    long long lim_value = c->shard->cfg.zset_max_listpack_value;
    int small = n <= lim_entries && (long long)maxlen <= lim_value;
    rk_obj *z = zset_create(small ? ENC_LISTPACK : ENC_SKIPLIST);
    if (!z) {
        ctx_oom(c);
        return;
    }
    for (long i = 0; i < n; i++) {
        double score = storedist ? pts[i].dist / conversion : pts[i].score;
        if (zset_add_new(z, pts[i].member.ptr, pts[i].member.len, score) < 0) {
            obj_free(z);
            ctx_oom(c);
            return;
        }
    }
    if (db_set(c->shard, c->db, key, z, 0) != 0) {
        obj_free(z);
        ctx_oom(c);
        return;
    }
    ctx_dirty(c, n);
    reply_int(&c->r, n);
}

static void geo_search(rk_ctx *c, int src, int flags)
{
    rk_obj *z;
    if (lookup_geo(c, c->argv[src], &z) < 0)
        return;
    int base;
    rk_slice storekey = {NULL, 0};
    int store = 0, storedist = 0;
    geo_shape shape = {0};
    if (flags & G_COORDS) {
        base = 6;
        shape.type = GEO_CIRCLE;
        if (arg_lonlat(c, 2, shape.xy) < 0 || arg_distance(c, 4, &shape.conversion, &shape.radius) < 0)
            return;
    } else if (flags & G_MEMBER) {
        base = 5;
        if (z) {
            shape.type = GEO_CIRCLE;
            if (member_lonlat(z, c->argv[2], shape.xy) < 0) {
                ctx_error(c, "ERR could not decode requested zset member");
                return;
            }
            if (arg_distance(c, 3, &shape.conversion, &shape.radius) < 0)
                return;
        }
    } else {
        base = 2;
        if (flags & G_SEARCHSTORE) {
            base = 3;
            storekey = c->argv[1];
            store = 1;
        }
    }

    int withdist = 0, withhash = 0, withcoords = 0, any = 0, sort = SORT_NONE;
    int frommember = 0, fromloc = 0, byradius = 0, bybox = 0;
    long long count = 0;
    int remaining = c->argc - base;
    for (int i = 0; i < remaining; i++) {
        int a = base + i;
        if (ctx_arg_is(c, a, "withdist")) {
            withdist = 1;
        } else if (ctx_arg_is(c, a, "withhash")) {
            withhash = 1;
        } else if (ctx_arg_is(c, a, "withcoord")) {
            withcoords = 1;
        } else if (ctx_arg_is(c, a, "any")) {
            any = 1;
        } else if (ctx_arg_is(c, a, "asc")) {
            sort = SORT_ASC;
        } else if (ctx_arg_is(c, a, "desc")) {
            sort = SORT_DESC;
        } else if (ctx_arg_is(c, a, "count") && i + 1 < remaining) {
            if (ctx_arg_ll(c, a + 1, &count) < 0)
                return;
            if (count <= 0) {
                ctx_error(c, "ERR COUNT must be > 0");
                return;
            }
            i++;
        } else if ((ctx_arg_is(c, a, "store") || ctx_arg_is(c, a, "storedist")) && i + 1 < remaining &&
                   !(flags & (G_NOSTORE | G_SEARCH))) {
            storekey = c->argv[a + 1];
            store = 1;
            storedist = ctx_arg_is(c, a, "storedist");
            i++;
        } else if (ctx_arg_is(c, a, "storedist") && (flags & G_SEARCH) && (flags & G_SEARCHSTORE)) {
            storedist = 1;
        } else if (ctx_arg_is(c, a, "frommember") && i + 1 < remaining && (flags & G_SEARCH) && !fromloc) {
            if (z && member_lonlat(z, c->argv[a + 1], shape.xy) < 0) {
                ctx_error(c, "ERR could not decode requested zset member");
                return;
            }
            frommember = 1;
            i++;
        } else if (ctx_arg_is(c, a, "fromlonlat") && i + 2 < remaining && (flags & G_SEARCH) && !frommember) {
            if (arg_lonlat(c, a + 1, shape.xy) < 0)
                return;
            fromloc = 1;
            i += 2;
        } else if (ctx_arg_is(c, a, "byradius") && i + 2 < remaining && (flags & G_SEARCH) && !bybox) {
            if (arg_distance(c, a + 1, &shape.conversion, &shape.radius) < 0)
                return;
            shape.type = GEO_CIRCLE;
            byradius = 1;
            i += 2;
        } else if (ctx_arg_is(c, a, "bybox") && i + 3 < remaining && (flags & G_SEARCH) && !byradius) {
            if (arg_box(c, a + 1, &shape.conversion, &shape.width, &shape.height) < 0)
                return;
            shape.type = GEO_RECTANGLE;
            bybox = 1;
            i += 3;
        } else {
            ctx_syntax_error(c);
            return;
        }
    }
    if (store && (withdist || withhash || withcoords)) {
        ctx_errorf(c, "ERR %s is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
                   (flags & G_SEARCHSTORE) ? "GEOSEARCHSTORE" : "STORE option in GEORADIUS");
        return;
    }
    if ((flags & G_SEARCH) && !(frommember || fromloc)) {
        ctx_errorf(c, "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for %.*s", (int)c->argv[0].len,
                   c->argv[0].ptr);
        return;
    }
    if ((flags & G_SEARCH) && !(byradius || bybox)) {
        ctx_errorf(c, "ERR exactly one of BYRADIUS and BYBOX can be specified for %.*s", (int)c->argv[0].len,
                   c->argv[0].ptr);
        return;
    }
    if (any && !count) {
        ctx_error(c, "ERR the ANY argument requires COUNT argument");
        return;
    }
    if (!z) {
        if (store) {
            if (db_delete(c->shard, c->db, storekey))
                ctx_dirty(c, 1);
            reply_int(&c->r, 0);
        } else {
            reply_array(&c->r, 0);
        }
        return;
    }
    /* COUNT without an order means the closest ones (not with ANY). */
    if (count != 0 && sort == SORT_NONE && !any)
        sort = SORT_ASC;

    geo_found f = {.shape = &shape, .limit = any ? (unsigned long)count : 0};
    rk_buf_init(&f.names);
    search_boxes(z, &shape, &f);
    if (f.oom) {
        ctx_oom(c);
        goto done;
    }
    long returned = (count == 0 || (long long)f.n < count) ? (long)f.n : (long)count;
    if (sort != SORT_NONE)
        qsort(f.pts, f.n, sizeof(geo_point), sort == SORT_ASC ? by_dist_asc : by_dist_desc);
    if (store) {
        store_result(c, storekey, f.pts, returned, storedist, shape.conversion);
        goto done;
    }
    int opts = withdist + withcoords + withhash;
    reply_array(&c->r, returned);
    for (long i = 0; i < returned; i++) {
        geo_point *p = &f.pts[i];
        if (opts)
            reply_array(&c->r, opts + 1);
        reply_bulk(&c->r, p->member.ptr, p->member.len);
        if (withdist)
            reply_distance(c, p->dist / shape.conversion);
        if (withhash)
            reply_int(&c->r, (int64_t)p->score);
        if (withcoords) {
            reply_array(&c->r, 2);
            reply_human_long_double(&c->r, p->lon);
            reply_human_long_double(&c->r, p->lat);
        }
    }
done:
    free(f.pts);
    rk_buf_free(&f.names);
}

static void cmd_georadius(rk_ctx *c) { geo_search(c, 1, G_COORDS); }
static void cmd_georadiusbymember(rk_ctx *c) { geo_search(c, 1, G_MEMBER); }
static void cmd_georadius_ro(rk_ctx *c) { geo_search(c, 1, G_COORDS | G_NOSTORE); }
static void cmd_georadiusbymember_ro(rk_ctx *c) { geo_search(c, 1, G_MEMBER | G_NOSTORE); }
static void cmd_geosearch(rk_ctx *c) { geo_search(c, 1, G_SEARCH); }
static void cmd_geosearchstore(rk_ctx *c) { geo_search(c, 2, G_SEARCH | G_SEARCHSTORE); }

#define RADIUS_COMPLEXITY                                                                                      \
    "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by " \
    "center and radius and M is the number of items inside the index."
#define SEARCH_COMPLEXITY                                                                                     \
    "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape " \
    "provided as the filter and M is the number of items inside the shape"
#define RO_KEY1 {"RO ACCESS", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}
#define GEO_READ(nm, ar, pr, sum, sn, cx)                                                                       \
    {.name = nm, .arity = ar, .flags = CMD_READONLY, .acl_categories = "@read @geo @slow", .exec = EXEC_KEYS, \
     .merge = MERGE_NONE, .proc = pr, .first_key = 1, .last_key = 1, .key_step = 1, .keyspecs = {RO_KEY1},    \
     .n_keyspecs = 1, .summary = sum, .since = sn, .group = "geo", .complexity = cx}
#define GEO_RADIUS_STORE(nm, ar, pr, sum, from)                                                               \
    {.name = nm, .arity = ar, .flags = CMD_WRITE | CMD_DENYOOM, .acl_categories = "@write @geo @slow",        \
     .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = pr, .first_key = 1, .last_key = 1, .key_step = 1,        \
     .keyspecs = {RO_KEY1, {"OW UPDATE", 0, "STORE", from, 0, 0, 1, 0, 0, 0, 0},                              \
                  {"OW UPDATE", 0, "STOREDIST", from, 0, 0, 1, 0, 0, 0, 0}},                                   \
     .n_keyspecs = 3, .summary = sum, .since = "3.2.0", .group = "geo", .complexity = RADIUS_COMPLEXITY}

const rk_command rk_geo_commands[] = {
    {.name = "geoadd", .arity = -5, .flags = CMD_WRITE | CMD_DENYOOM, .acl_categories = "@write @geo @slow",
     .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_geoadd, .first_key = 1, .last_key = 1, .key_step = 1,
     .keyspecs = {{"RW UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
     .summary = "Add one or more geospatial items in the geospatial index represented using a sorted set",
     .since = "3.2.0", .group = "geo",
     .complexity = "O(log(N)) for each item added, where N is the number of elements in the sorted set."},
    GEO_READ("geodist", -4, cmd_geodist, "Returns the distance between two members of a geospatial index", "3.2.0",
             "O(log(N))"),
    GEO_READ("geohash", -2, cmd_geohash, "Returns members of a geospatial index as standard geohash strings", "3.2.0",
             "O(log(N)) for each member requested, where N is the number of elements in the sorted set."),
    GEO_READ("geopos", -2, cmd_geopos, "Returns longitude and latitude of members of a geospatial index", "3.2.0",
             "O(N) where N is the number of members requested."),
    GEO_RADIUS_STORE("georadius", -6, cmd_georadius,
                     "Query a sorted set representing a geospatial index to fetch members matching a given "
                     "maximum distance from a point",
                     6),
    GEO_RADIUS_STORE("georadiusbymember", -5, cmd_georadiusbymember,
                     "Query a sorted set representing a geospatial index to fetch members matching a given "
                     "maximum distance from a member",
                     5),
    GEO_READ("georadius_ro", -6, cmd_georadius_ro, "A read-only variant for GEORADIUS", "3.2.10", RADIUS_COMPLEXITY),
    GEO_READ("georadiusbymember_ro", -5, cmd_georadiusbymember_ro, "A read-only variant for GEORADIUSBYMEMBER",
             "3.2.10", RADIUS_COMPLEXITY),
    GEO_READ("geosearch", -7, cmd_geosearch,
             "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a "
             "circle.",
             "6.2.0", SEARCH_COMPLEXITY),
    {.name = "geosearchstore", .arity = -8, .flags = CMD_WRITE | CMD_DENYOOM, .acl_categories = "@write @geo @slow",
     .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_geosearchstore, .first_key = 1, .last_key = 2,
     .key_step = 1,
     .keyspecs = {{"OW UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}, {"RO ACCESS", 2, NULL, 0, 0, 0, 1, 0, 0, 0, 0}},
     .n_keyspecs = 2,
     .summary = "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a "
                "circle, and store the result in another key.",
     .since = "6.2.0", .group = "geo", .complexity = SEARCH_COMPLEXITY},
    {0},
};
