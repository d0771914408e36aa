// Geohash arithmetic (core/geohash.c) against values redis-server 7.0 gives.
#include <gtest/gtest.h>
#include <cmath>

extern "C" {
#include "core/geohash.h"
}

TEST(Geohash, EncodesPalermoAsRedisDoes) {
    geo_bits h;
    ASSERT_EQ(geo_encode_wgs84(13.361389, 38.115556, GEO_STEP_MAX, &h), 1);
    EXPECT_EQ(geo_align52(h), 3479099956230698ull);  // ZSCORE after GEOADD on redis-server
    double xy[2];
    ASSERT_EQ(geo_decode_score(3479099956230698.0, xy), 1);
    EXPECT_NEAR(xy[0], 13.36138933897018433, 1e-14);  // GEOPOS on redis-server
    EXPECT_NEAR(xy[1], 38.11555639549629859, 1e-14);
}

TEST(Geohash, RefusesOutsideTheMercatorRange) {
    geo_bits h;
    EXPECT_EQ(geo_encode_wgs84(0, 86, GEO_STEP_MAX, &h), 0);
    EXPECT_EQ(geo_encode_wgs84(181, 0, GEO_STEP_MAX, &h), 0);
    EXPECT_EQ(geo_encode_wgs84(0, 0, 0, &h), 0);
    EXPECT_EQ(geo_encode_wgs84(180, GEO_LAT_MAX, GEO_STEP_MAX, &h), 1);
}

TEST(Geohash, RoundTripStaysInsideTheCell) {
    for (int i = 0; i < 1000; i++) {
        double lon = -180 + 360.0 * i / 1000, lat = GEO_LAT_MIN + (GEO_LAT_MAX - GEO_LAT_MIN) * ((i * 7) % 1000) / 1000;
        geo_bits h;
        ASSERT_EQ(geo_encode_wgs84(lon, lat, GEO_STEP_MAX, &h), 1);
        double xy[2];
        ASSERT_EQ(geo_decode_score((double)geo_align52(h), xy), 1);
        EXPECT_NEAR(xy[0], lon, 1e-5);
        EXPECT_NEAR(xy[1], lat, 1e-5);
    }
}

TEST(Geohash, DistanceMatchesGeodist) {
    double p[2], c[2];
    ASSERT_EQ(geo_decode_score(3479099956230698.0, p), 1);
    geo_bits h;
    ASSERT_EQ(geo_encode_wgs84(15.087269, 37.502669, GEO_STEP_MAX, &h), 1);
    ASSERT_EQ(geo_decode_score((double)geo_align52(h), c), 1);
    // GEODIST Sicily Palermo Catania on redis-server: "166274.1516".
    EXPECT_EQ(std::llrint(geo_distance(p[0], p[1], c[0], c[1]) * 10000), 1662741516LL);
    EXPECT_EQ(geo_distance(1, 2, 1, 2), 0.0);
}

TEST(Geohash, SearchBoxesCoverTheCentreAndDropUnreachableNeighbours) {
    geo_shape small = {};
    small.type = GEO_CIRCLE;
    small.xy[0] = 13.36;
    small.xy[1] = 38.11;
    small.conversion = 1000;
    small.radius = 1;
    geo_boxes b = geo_search_boxes(&small);
    EXPECT_NE(b.box[0].step, 0);  // the centre is always searched
    EXPECT_LE(b.area.longitude.min, 13.36);
    EXPECT_GE(b.area.longitude.max, 13.36);
    int kept = 0;
    for (int i = 0; i < 9; i++)
        kept += b.box[i].step != 0;
    EXPECT_GE(kept, 1);
    EXPECT_LE(kept, 9);
    geo_shape world = small;
    world.radius = 20000;  // km: every neighbour coincides at step 1
    b = geo_search_boxes(&world);
    EXPECT_EQ(b.box[0].step, 1);
}
