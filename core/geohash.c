/* geohash.c: geohash encoding, neighbour boxes and distances for the geo
 * commands (see geohash.h). The constants and the order of the floating
 * point operations follow Redis 7.0 so results agree with redis-server to
 * the last bit. No state; any thread. */
#include "core/geohash.h"

#include <math.h>
#include <stddef.h>

#define D_R (M_PI / 180.0)
static const double EARTH_RADIUS_IN_METERS = 6372797.560856;
static const double MERCATOR_MAX = 20037726.37;

static inline double deg_rad(double ang) { return ang * D_R; }
static inline double rad_deg(double ang) { return ang / D_R; }

static const geo_range WGS84_LON = {GEO_LONG_MIN, GEO_LONG_MAX};
static const geo_range WGS84_LAT = {GEO_LAT_MIN, GEO_LAT_MAX};

static int hash_is_zero(geo_bits h) { return h.bits == 0 && h.step == 0; }
static int range_is_zero(const geo_range *r) { return r->max == 0 && r->min == 0; }

/* Spreads the 32 bits of x to the even bit positions. */
static uint64_t spread32(uint32_t v)
{
    uint64_t x = v;
    x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
    x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
    x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;
    x = (x | (x << 2)) & 0x3333333333333333ULL;
    x = (x | (x << 1)) & 0x5555555555555555ULL;
    return x;
}

/* Gathers the even bit positions into 32 bits. */
static uint32_t gather32(uint64_t x)
{
    x &= 0x5555555555555555ULL;
    x = (x | (x >> 1)) & 0x3333333333333333ULL;
    x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0FULL;
    x = (x | (x >> 4)) & 0x00FF00FF00FF00FFULL;
    x = (x | (x >> 8)) & 0x0000FFFF0000FFFFULL;
    x = (x | (x >> 16)) & 0x00000000FFFFFFFFULL;
    return (uint32_t)x;
}

/* Latitude bits at the even positions, longitude at the odd ones. */
static uint64_t interleave(uint32_t lat, uint32_t lon) { return spread32(lat) | (spread32(lon) << 1); }

int geo_encode(const geo_range *lon, const geo_range *lat, double longitude, double latitude, uint8_t step,
               geo_bits *out)
{
    if (!out || step > 32 || step == 0 || !lat || !lon || range_is_zero(lat) || range_is_zero(lon))
        return 0;
    if (longitude > GEO_LONG_MAX || longitude < GEO_LONG_MIN || latitude > GEO_LAT_MAX || latitude < GEO_LAT_MIN)
        return 0;
    out->bits = 0;
    out->step = step;
    if (latitude < lat->min || latitude > lat->max || longitude < lon->min || longitude > lon->max)
        return 0;
    double lat_offset = (latitude - lat->min) / (lat->max - lat->min);
    double lon_offset = (longitude - lon->min) / (lon->max - lon->min);
    lat_offset *= (double)(1ULL << step);
    lon_offset *= (double)(1ULL << step);
    out->bits = interleave((uint32_t)lat_offset, (uint32_t)lon_offset);
    return 1;
}

int geo_encode_wgs84(double longitude, double latitude, uint8_t step, geo_bits *out)
{
    return geo_encode(&WGS84_LON, &WGS84_LAT, longitude, latitude, step, out);
}

int geo_decode(const geo_range *lon, const geo_range *lat, geo_bits hash, geo_area *out)
{
    if (hash_is_zero(hash) || !out || range_is_zero(lat) || range_is_zero(lon))
        return 0;
    out->hash = hash;
    uint8_t step = hash.step;
    uint32_t ilat = gather32(hash.bits);
    uint32_t ilon = gather32(hash.bits >> 1);
    double lat_scale = lat->max - lat->min;
    double lon_scale = lon->max - lon->min;
    out->latitude.min = lat->min + (ilat * 1.0 / (double)(1ull << step)) * lat_scale;
    out->latitude.max = lat->min + ((ilat + 1) * 1.0 / (double)(1ull << step)) * lat_scale;
    out->longitude.min = lon->min + (ilon * 1.0 / (double)(1ull << step)) * lon_scale;
    out->longitude.max = lon->min + ((ilon + 1) * 1.0 / (double)(1ull << step)) * lon_scale;
    return 1;
}

int geo_decode_score(double score, double *xy)
{
    geo_bits hash = {.bits = (uint64_t)score, .step = GEO_STEP_MAX};
    geo_area area;
    if (!geo_decode(&WGS84_LON, &WGS84_LAT, hash, &area))
        return 0;
    xy[0] = (area.longitude.min + area.longitude.max) / 2;
    if (xy[0] > GEO_LONG_MAX)
        xy[0] = GEO_LONG_MAX;
    if (xy[0] < GEO_LONG_MIN)
        xy[0] = GEO_LONG_MIN;
    xy[1] = (area.latitude.min + area.latitude.max) / 2;
    if (xy[1] > GEO_LAT_MAX)
        xy[1] = GEO_LAT_MAX;
    if (xy[1] < GEO_LAT_MIN)
        xy[1] = GEO_LAT_MIN;
    return 1;
}

uint64_t geo_align52(geo_bits hash) { return hash.bits << (52 - hash.step * 2); }

/* Moves a hash one cell east/west (dx) or north/south (dy) with wrap. */
static void move_x(geo_bits *h, int d)
{
    if (d == 0)
        return;
    uint64_t x = h->bits & 0xaaaaaaaaaaaaaaaaULL;
    uint64_t y = h->bits & 0x5555555555555555ULL;
    uint64_t zz = 0x5555555555555555ULL >> (64 - h->step * 2);
    if (d > 0) {
        x = x + (zz + 1);
    } else {
        x = x | zz;
        x = x - (zz + 1);
    }
    x &= (0xaaaaaaaaaaaaaaaaULL >> (64 - h->step * 2));
    h->bits = x | y;
}

static void move_y(geo_bits *h, int d)
{
    if (d == 0)
        return;
    uint64_t x = h->bits & 0xaaaaaaaaaaaaaaaaULL;
    uint64_t y = h->bits & 0x5555555555555555ULL;
    uint64_t zz = 0xaaaaaaaaaaaaaaaaULL >> (64 - h->step * 2);
    if (d > 0) {
        y = y + (zz + 1);
    } else {
        y = y | zz;
        y = y - (zz + 1);
    }
    y &= (0x5555555555555555ULL >> (64 - h->step * 2));
    h->bits = x | y;
}

static geo_bits moved(geo_bits h, int dx, int dy)
{
    move_x(&h, dx);
    move_y(&h, dy);
    return h;
}

static uint8_t steps_for_radius(double range_meters, double lat)
{
    if (range_meters == 0)
        return 26;
    int step = 1;
    while (range_meters < MERCATOR_MAX) {
        range_meters *= 2;
        step++;
    }
    step -= 2; /* the range is then inside the centre box plus neighbours */
    if (lat > 66 || lat < -66) { /* cells narrow towards the poles */
        step--;
        if (lat > 80 || lat < -80)
            step--;
    }
    if (step < 1)
        step = 1;
    if (step > 26)
        step = 26;
    return (uint8_t)step;
}

static void bounding_box(geo_shape *shape)
{
    double longitude = shape->xy[0], latitude = shape->xy[1];
    double height = shape->conversion * (shape->type == GEO_CIRCLE ? shape->radius : shape->height / 2);
    double width = shape->conversion * (shape->type == GEO_CIRCLE ? shape->radius : shape->width / 2);
    const double lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    const double long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / cos(deg_rad(latitude + lat_delta)));
    const double long_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / cos(deg_rad(latitude - lat_delta)));
    /* The hemispheres widen in opposite directions. */
    int southern = latitude < 0;
    shape->bounds[0] = southern ? longitude - long_delta_bottom : longitude - long_delta_top;
    shape->bounds[2] = southern ? longitude + long_delta_bottom : longitude + long_delta_top;
    shape->bounds[1] = latitude - lat_delta;
    shape->bounds[3] = latitude + lat_delta;
}

enum { B_C = 0, B_N, B_S, B_E, B_W, B_NE, B_NW, B_SE, B_SW };

static void neighbours(geo_bits h, geo_bits *box)
{
    box[B_C] = h;
    box[B_N] = moved(h, 0, 1);
    box[B_S] = moved(h, 0, -1);
    box[B_E] = moved(h, 1, 0);
    box[B_W] = moved(h, -1, 0);
    box[B_NE] = moved(h, 1, 1);
    box[B_NW] = moved(h, -1, 1);
    box[B_SE] = moved(h, 1, -1);
    box[B_SW] = moved(h, -1, -1);
}

geo_boxes geo_search_boxes(geo_shape *shape)
{
    geo_boxes out;
    bounding_box(shape);
    double min_lon = shape->bounds[0], min_lat = shape->bounds[1];
    double max_lon = shape->bounds[2], max_lat = shape->bounds[3];
    double longitude = shape->xy[0], latitude = shape->xy[1];
    /* A box is searched by the radius of its circumscribed circle. */
    double radius_meters = shape->type == GEO_CIRCLE
                               ? shape->radius
                               : sqrt((shape->width / 2) * (shape->width / 2) + (shape->height / 2) * (shape->height / 2));
    radius_meters *= shape->conversion;

    uint8_t steps = steps_for_radius(radius_meters, latitude);
    geo_bits hash;
    geo_encode(&WGS84_LON, &WGS84_LAT, longitude, latitude, steps, &hash);
    neighbours(hash, out.box);
    geo_decode(&WGS84_LON, &WGS84_LAT, hash, &out.area);

    /* Near the edge of its cell the estimated step can leave part of the
     * search area outside the neighbours: one step coarser then. */
    geo_area north, south, east, west;
    geo_decode(&WGS84_LON, &WGS84_LAT, out.box[B_N], &north);
    geo_decode(&WGS84_LON, &WGS84_LAT, out.box[B_S], &south);
    geo_decode(&WGS84_LON, &WGS84_LAT, out.box[B_E], &east);
    geo_decode(&WGS84_LON, &WGS84_LAT, out.box[B_W], &west);
    int decrease = north.latitude.max < max_lat || south.latitude.min > min_lat ||
                   east.longitude.max < max_lon || west.longitude.min > min_lon;
    if (steps > 1 && decrease) {
        steps--;
        geo_encode(&WGS84_LON, &WGS84_LAT, longitude, latitude, steps, &hash);
        neighbours(hash, out.box);
        geo_decode(&WGS84_LON, &WGS84_LAT, hash, &out.area);
    }
    /* Leave out neighbours the search area cannot reach. */
    static const geo_bits zero = {0, 0};
    if (steps >= 2) {
        if (out.area.latitude.min < min_lat)
            out.box[B_S] = out.box[B_SW] = out.box[B_SE] = zero;
        if (out.area.latitude.max > max_lat)
            out.box[B_N] = out.box[B_NE] = out.box[B_NW] = zero;
        if (out.area.longitude.min < min_lon)
            out.box[B_W] = out.box[B_SW] = out.box[B_NW] = zero;
        if (out.area.longitude.max > max_lon)
            out.box[B_E] = out.box[B_SE] = out.box[B_NE] = zero;
    }
    return out;
}

static double lat_distance(double lat1d, double lat2d)
{
    return EARTH_RADIUS_IN_METERS * fabs(deg_rad(lat2d) - deg_rad(lat1d));
}

double geo_distance(double lon1d, double lat1d, double lon2d, double lat2d)
{
    double lon1r = deg_rad(lon1d), lon2r = deg_rad(lon2d);
    double v = sin((lon2r - lon1r) / 2);
    if (v == 0.0) /* the same meridian: only latitude differs */
        return lat_distance(lat1d, lat2d);
    double lat1r = deg_rad(lat1d), lat2r = deg_rad(lat2d);
    double u = sin((lat2r - lat1r) / 2);
    double a = u * u + cos(lat1r) * cos(lat2r) * v * v;
    return 2.0 * EARTH_RADIUS_IN_METERS * asin(sqrt(a));
}

int geo_within(const geo_shape *shape, double x2, double y2, double *distance)
{
    double x1 = shape->xy[0], y1 = shape->xy[1];
    if (shape->type == GEO_CIRCLE) {
        *distance = geo_distance(x1, y1, x2, y2);
        return *distance <= shape->radius * shape->conversion;
    }
    double width_m = shape->width * shape->conversion, height_m = shape->height * shape->conversion;
    if (lat_distance(y2, y1) > height_m / 2) /* the cheaper test first */
        return 0;
    if (geo_distance(x2, y2, x1, y2) > width_m / 2)
        return 0;
    *distance = geo_distance(x1, y1, x2, y2);
    return 1;
}
