"""Geo commands against Debian's redis-server fed the same data: every reply
must be equal (positions, distances, hashes, search results and their order
where the command defines one), including stores across shards, errors and
COMMAND INFO; geo sets survive restart and reach a replica."""
import random

import pytest
import redis

from conftest import (RealRedis, Server, keys_on_shard, node_client, raw, replicaof, wait_converged,
                      wait_link_up)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    ours = Server(tmp_path_factory.mktemp("geo"), directives={"shards": "2", "save": ""}).start()
    real = RealRedis(tmp_path_factory.mktemp("geo-real"))
    yield ours.client(), real.client()
    real.stop()
    ours.stop()


def both(pair, *cmd, unordered=False):
    out = []
    for c in pair:
        try:
            rep = raw(c, *cmd)
        except redis.ResponseError as e:
            rep = ("error", str(e))
        if unordered and isinstance(rep, list):
            rep = sorted(rep, key=repr)
        out.append(rep)
    assert out[0] == out[1], (cmd, out)
    return out[0]


def load(pair, key, points):
    for c in pair:
        c.delete(key)
    args = []
    for lon, lat, name in points:
        args += [lon, lat, name]
    for i in range(0, len(args), 300):
        both(pair, "GEOADD", key, *args[i:i + 300])


def random_points(rnd, n, lon=(-180, 180), lat=(-85.05, 85.05)):
    return [("%.6f" % rnd.uniform(*lon), "%.6f" % rnd.uniform(*lat), "p%d" % i) for i in range(n)]


@pytest.mark.smoke
def test_add_pos_hash_dist(pair):
    for c in pair:
        c.flushall()
    both(pair, "GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")
    both(pair, "GEOADD", "Sicily", "CH", "13.361389", "38.115556", "Palermo", "13.5", "38", "Other")
    both(pair, "GEOADD", "Sicily", "NX", "1", "1", "Palermo", "2", "2", "New")
    both(pair, "GEOADD", "Sicily", "XX", "CH", "3", "3", "New", "4", "4", "Missing")
    both(pair, "ZRANGE", "Sicily", 0, -1, "WITHSCORES")
    both(pair, "GEOPOS", "Sicily", "Palermo", "Catania", "nope")
    both(pair, "GEOHASH", "Sicily", "Palermo", "Catania", "nope")
    for unit in ("m", "km", "ft", "mi", "KM"):
        both(pair, "GEODIST", "Sicily", "Palermo", "Catania", unit)
    both(pair, "GEODIST", "Sicily", "Palermo", "nope")
    both(pair, "GEODIST", "nokey", "a", "b")
    both(pair, "GEOPOS", "nokey", "a")
    both(pair, "GEOHASH", "nokey", "a")
    # Edges: poles of the Mercator range, the antimeridian, zero.
    both(pair, "GEOADD", "edge", "180", "85.05112878", "ne", "-180", "-85.05112878", "sw", "0", "0", "zero",
         "179.999999", "0.000001", "am1", "-179.999999", "-0.000001", "am2")
    both(pair, "GEOPOS", "edge", "ne", "sw", "zero", "am1", "am2")
    both(pair, "GEOHASH", "edge", "ne", "sw", "zero", "am1", "am2")
    both(pair, "GEODIST", "edge", "am1", "am2", "km")


def test_search_random_data(pair):
    rnd = random.Random(11)
    load(pair, "world", random_points(rnd, 3000))
    load(pair, "city", random_points(rnd, 1500, lon=(2.2, 2.5), lat=(48.8, 48.95)))
    for _ in range(25):
        lon, lat = "%.5f" % rnd.uniform(-180, 180), "%.5f" % rnd.uniform(-85, 85)
        r = rnd.choice(("50", "500", "3000", "10000", "20000"))
        both(pair, "GEORADIUS", "world", lon, lat, r, "km", "WITHDIST", "WITHCOORD", "WITHHASH", "ASC")
        both(pair, "GEORADIUS_RO", "world", lon, lat, r, "km", "DESC", "COUNT", 7)
        both(pair, "GEORADIUS", "world", lon, lat, r, "km", unordered=True)
        both(pair, "GEOSEARCH", "world", "FROMLONLAT", lon, lat, "BYBOX", r, int(r) // 2, "km", "ASC",
             "WITHDIST", "WITHCOORD")
        both(pair, "GEOSEARCH", "world", "FROMLONLAT", lon, lat, "BYRADIUS", r, "km", "COUNT", 3, "ANY",
             unordered=True)
        m = "p%d" % rnd.randrange(3000)
        both(pair, "GEORADIUSBYMEMBER", "world", m, r, "km", "WITHDIST", "ASC")
        both(pair, "GEORADIUSBYMEMBER_RO", "world", m, r, "mi", "COUNT", 5, "DESC", "WITHHASH")
        both(pair, "GEOSEARCH", "world", "FROMMEMBER", m, "BYBOX", r, r, "mi", "DESC", "WITHDIST")
    for _ in range(15):
        lon, lat = "%.5f" % rnd.uniform(2.2, 2.5), "%.5f" % rnd.uniform(48.8, 48.95)
        r = rnd.choice(("0", "0.1", "1", "5", "12"))
        both(pair, "GEOSEARCH", "city", "FROMLONLAT", lon, lat, "BYRADIUS", r, "km", "ASC", "WITHDIST",
             "WITHCOORD", "WITHHASH")
        both(pair, "GEOSEARCH", "city", "FROMLONLAT", lon, lat, "BYBOX", r, r, "km", "ASC", "WITHDIST")
        both(pair, "GEOSEARCH", "city", "FROMMEMBER", "p%d" % rnd.randrange(1500), "BYRADIUS", r, "km",
             unordered=True)
    # Near the poles and the antimeridian.
    for lon, lat in (("179.9", "84.9"), ("-179.9", "-84.9"), ("0", "84"), ("180", "0")):
        both(pair, "GEOSEARCH", "world", "FROMLONLAT", lon, lat, "BYRADIUS", 2000, "km", "ASC", "WITHDIST")
        both(pair, "GEOSEARCH", "world", "FROMLONLAT", lon, lat, "BYBOX", 4000, 1000, "km", "ASC")


def test_store_same_shard_and_across_shards(pair):
    rnd = random.Random(5)
    src = keys_on_shard(0, 1, "gsrc")[0]
    dst_same = "{%s}dst" % src
    dst_other = keys_on_shard(1, 1, "gdst")[0]
    load(pair, src, random_points(rnd, 400, lon=(10, 20), lat=(40, 50)))
    for dst in (dst_same, dst_other):
        both(pair, "GEOSEARCHSTORE", dst, src, "FROMLONLAT", 15, 45, "BYRADIUS", 300, "km", "ASC", "COUNT", 50)
        both(pair, "ZRANGE", dst, 0, -1, "WITHSCORES")
        both(pair, "GEOSEARCHSTORE", dst, src, "FROMLONLAT", 15, 45, "BYBOX", 400, 300, "km", "STOREDIST")
        both(pair, "ZRANGE", dst, 0, -1, "WITHSCORES")
        both(pair, "OBJECT", "ENCODING", dst)
        both(pair, "GEORADIUS", src, 15, 45, 200, "km", "STORE", dst)
        both(pair, "ZRANGE", dst, 0, -1, "WITHSCORES")
        both(pair, "GEORADIUSBYMEMBER", src, "p3", 100, "km", "STOREDIST", dst, "DESC", "COUNT", 3)
        both(pair, "ZRANGE", dst, 0, -1, "WITHSCORES")
        both(pair, "GEOSEARCHSTORE", dst, src, "FROMLONLAT", -100, -40, "BYRADIUS", 1, "m")   # nothing: deleted
        both(pair, "EXISTS", dst)
        both(pair, "GEOSEARCHSTORE", dst, "nokey", "FROMLONLAT", 1, 1, "BYRADIUS", 1, "m")


def test_errors_and_command_info(pair):
    for c in pair:
        c.flushall()
        c.set("str", "x")
        c.geoadd("g", (1, 1, "a"))
    for cmd in (("GEOADD", "g", "200", "1", "x"), ("GEOADD", "g", "1", "86", "x"), ("GEOADD", "g", "a", "b", "c"),
                ("GEOADD", "g", "NX", "XX", "1", "1", "x"), ("GEOADD", "g", "1", "1"), ("GEOADD", "str", "1", "1", "x"),
                ("GEODIST", "g", "a", "a", "parsec"), ("GEODIST", "g", "a", "a", "m", "x"), ("GEOPOS", "str", "a"),
                ("GEORADIUS", "g", 1, 1, -1, "km"), ("GEORADIUS", "g", 1, 1, "x", "km"), ("GEORADIUS", "g", 1, 1, 1, "yd"),
                ("GEORADIUS", "g", 1, 1, 1, "km", "COUNT", 0), ("GEORADIUS", "g", 1, 1, 1, "km", "ANY"),
                ("GEORADIUS", "g", 1, 1, 1, "km", "STORE", "x", "WITHDIST"), ("GEORADIUS_RO", "g", 1, 1, 1, "km", "STORE", "x"),
                ("GEORADIUSBYMEMBER", "g", "nope", 1, "km"), ("GEOSEARCH", "g", "BYRADIUS", 1, "km"),
                ("GEOSEARCH", "g", "FROMLONLAT", 1, 1), ("GEOSEARCH", "g", "FROMMEMBER", "a", "FROMLONLAT", 1, 1, "BYRADIUS", 1, "km"),
                ("GEOSEARCH", "g", "FROMLONLAT", 1, 1, "BYBOX", -1, 1, "km"), ("GEOSEARCH", "g", "FROMLONLAT", 1, 1, "BYBOX", "w", 1, "km"),
                ("GEOSEARCH", "g", "FROMMEMBER", "nope", "BYRADIUS", 1, "km"), ("GEOSEARCH", "str", "FROMLONLAT", 1, 1, "BYRADIUS", 1, "km"),
                ("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", 1, 1, "BYRADIUS", 1, "km", "WITHDIST"),
                ("GEOSEARCH", "g", "FROMLONLAT", 1, 1, "BYRADIUS", 1, "km", "STOREDIST"),
                ("GEOSEARCH", "nokey", "FROMMEMBER", "x", "BYRADIUS", 1, "km")):
        both(pair, *cmd)
    for name in ("geoadd", "geodist", "geohash", "geopos", "georadius", "georadiusbymember", "georadius_ro",
                 "georadiusbymember_ro", "geosearch", "geosearchstore"):
        both(pair, "COMMAND", "INFO", name)
    both(pair, "COMMAND", "GETKEYS", "GEORADIUS", "g", 1, 1, 1, "km", "STORE", "d")


def test_resp3_replies(pair, tmp_path_factory):
    from conftest import RespConn
    ours, real = pair
    for c in pair:
        c.flushall()
        c.geoadd("g", (13.361389, 38.115556, "Palermo"), (15.087269, 37.502669, "Catania"))
    replies = []
    for c in pair:
        conn = RespConn(c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
        conn.call("HELLO", "3")
        replies.append([conn.call("GEOPOS", "g", "Palermo", "x"),
                        conn.call("GEOSEARCH", "g", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km", "ASC",
                                  "WITHCOORD", "WITHDIST", "WITHHASH"),
                        conn.call("GEODIST", "g", "Palermo", "Catania")])
        conn.close()
    assert replies[0] == replies[1]


@pytest.mark.once
def test_restart_and_replica(repl_node):
    master = repl_node("ringkv", shards="2", appendonly="yes", appendfsync="always")
    replica = repl_node("ringkv", shards="2")
    real = repl_node("redis")
    m = node_client(master)
    rnd = random.Random(3)
    for i in range(4):
        m.execute_command("GEOADD", "g%d" % i, *[x for p in random_points(rnd, 200) for x in p])
    for node in (replica, real):
        replicaof(node, "127.0.0.1", master.port)
    wait_link_up(replica)
    wait_link_up(real)
    m.execute_command("GEOADD", "g0", "CH", "1", "2", "p1")
    assert raw(m, "GEOSEARCHSTORE", "res", "g1", "FROMLONLAT", 0, 0, "BYRADIUS", 8000, "km", "STOREDIST") > 0
    assert raw(m, "GEORADIUS", "g2", 0, 0, 5000, "km", "STORE", "res2") > 0
    _, dig = wait_converged(master, [replica, real])
    expected = raw(m, "GEOSEARCH", "g3", "FROMLONLAT", 0, 0, "BYRADIUS", 9000, "km", "ASC", "WITHDIST")
    master.kill()
    master.start()
    m = node_client(master)
    assert m.execute_command("DEBUG", "DIGEST").decode() == dig
    assert raw(m, "GEOSEARCH", "g3", "FROMLONLAT", 0, 0, "BYRADIUS", 9000, "km", "ASC", "WITHDIST") == expected
