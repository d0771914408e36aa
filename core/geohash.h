/* geohash.h: the 52-bit geohash Redis stores as a geo member's zset score,
 * and the search-area arithmetic of GEORADIUS/GEOSEARCH.
 *
 * The algorithms are Redis 7.0's (geohash.c, geohash_helper.c): the same
 * interleaving, the same latitude range (-85.05112878..85.05112878, the
 * Web Mercator limits), the same step estimate and neighbour boxes, and the
 * same haversine distance with Redis's earth radius, so a search returns
 * the members redis-server returns for the same data. Pure functions,
 * callable from any thread. */
#ifndef RK_CORE_GEOHASH_H
#define RK_CORE_GEOHASH_H

#include <stdint.h>

#define GEO_STEP_MAX 26 /* 26 * 2 = 52 bits */
#define GEO_LAT_MIN -85.05112878
#define GEO_LAT_MAX 85.05112878
#define GEO_LONG_MIN -180
#define GEO_LONG_MAX 180

typedef struct geo_bits {
    uint64_t bits;
    uint8_t step; /* bits holds 2 * step bits; step 0 with bits 0 = none */
} geo_bits;

typedef struct geo_range {
    double min, max;
} geo_range;

typedef struct geo_area {
    geo_bits hash;
    geo_range longitude, latitude;
} geo_area;

/* The box of the search centre and its eight neighbours (a zero geo_bits
 * marks a neighbour left out), in Redis's scan order. */
typedef struct geo_boxes {
    geo_bits box[9]; /* centre, N, S, E, W, NE, NW, SE, SW */
    geo_area area;   /* the centre's area */
} geo_boxes;

enum { GEO_CIRCLE = 1, GEO_RECTANGLE = 2 };

typedef struct geo_shape {
    int type;
    double xy[2];      /* centre: longitude, latitude */
    double conversion; /* metres per unit */
    double radius;     /* GEO_CIRCLE, in units */
    double width, height; /* GEO_RECTANGLE, in units */
    double bounds[4];  /* min lon, min lat, max lon, max lat (filled by geo_search_boxes) */
} geo_shape;

/* Encodes within the given ranges at `step`; 0 when out of range. */
int geo_encode(const geo_range *lon, const geo_range *lat, double longitude, double latitude, uint8_t step,
               geo_bits *out);
/* Encodes with Redis's WGS84 ranges. */
int geo_encode_wgs84(double longitude, double latitude, uint8_t step, geo_bits *out);
/* The area a hash stands for; 0 for a zero hash. */
int geo_decode(const geo_range *lon, const geo_range *lat, geo_bits hash, geo_area *out);
/* A zset score (52-bit hash) to the centre of its cell; 0 when invalid. */
int geo_decode_score(double score, double *xy);
/* Left-aligns a hash of any step to 52 bits (the zset score). */
uint64_t geo_align52(geo_bits hash);
/* Great-circle distance in metres (Redis's haversine). */
double geo_distance(double lon1, double lat1, double lon2, double lat2);
/* 1 and *distance when (x2, y2) lies in the shape around its centre. */
int geo_within(const geo_shape *shape, double x2, double y2, double *distance);
/* The boxes to scan for a shape (fills shape->bounds). */
geo_boxes geo_search_boxes(geo_shape *shape);

#endif
