"""Sorted set commands: replies, both encodings, exact Redis 7.0 errors,
RESP3 shapes, multi-shard commands and the blocking pops.

Uses `r` (redis-py, RESP2, flushed before each test) and `ringkv` (raw
RESP3 connections). The server runs with 2 shards; multi-key tests put
their keys on both (keys_on_shard). Tests that lower the listpack
thresholds restore them, since the server is shared by the module."""
import threading
import time

import pytest
import redis

from conftest import keys_on_shard, shard_of
from conftest import err, raw, WRONGTYPE, NOT_INT, NOT_FLOAT, SYNTAX

RANGE_FLOAT = "min or max is not a float"
RANGE_LEX = "min or max not valid string range item"


def two_shards(prefix):
    """One key on each shard."""
    return keys_on_shard(0, 1, prefix + "0")[0], keys_on_shard(1, 1, prefix + "1")[0]


@pytest.fixture
def thresholds(r):
    """Lets a test lower the listpack thresholds; restores the defaults."""
    def set_(entries, value=64):
        r.config_set("zset-max-listpack-entries", entries)
        r.config_set("zset-max-listpack-value", value)
    yield set_
    set_(128, 64)


@pytest.fixture(params=["listpack", "skiplist"])
def enc(request, r):
    """Runs a test once per encoding (skiplist: every zset created large)."""
    if request.param == "skiplist":
        r.config_set("zset-max-listpack-entries", 0)
    yield request.param
    r.config_set("zset-max-listpack-entries", 128)


def abc(r, key="z"):
    r.zadd(key, {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})


# ---- ZADD / ZINCRBY -----------------------------------------------------------


def test_zadd_basic_and_options(r, enc):
    assert r.execute_command("ZADD", "z", 1, "a", 2, "b", 3, "c") == 3
    assert r.object("encoding", "z").decode() == enc
    assert r.execute_command("ZADD", "z", "CH", 5, "a", 2, "b", 9, "d") == 2
    assert r.execute_command("ZADD", "z", 5, "a") == 0
    assert r.execute_command("ZADD", "z", "XX", "CH", 6, "a", 7, "e") == 1
    assert r.zscore("z", "e") is None
    assert r.execute_command("ZADD", "z", "NX", 10, "a", 11, "f") == 1
    assert r.zscore("z", "a") == 6.0
    assert r.execute_command("ZADD", "z", "GT", "CH", 1, "a", 20, "b") == 1
    assert r.execute_command("ZADD", "z", "LT", "CH", 1, "a", 20, "c") == 1
    assert r.zrange("z", 0, -1, withscores=True) == [
        (b"a", 1.0), (b"c", 3.0), (b"d", 9.0), (b"f", 11.0), (b"b", 20.0)]
    # GT/LT only limit updates: new members are still added
    assert r.execute_command("ZADD", "z", "GT", 0, "new") == 1


def test_zadd_incr_and_zincrby(r, enc):
    assert raw(r, "ZADD", "z", "INCR", 2.5, "a") == b"2.5"
    assert raw(r, "ZADD", "z", "INCR", "NX", 1, "a") is None
    assert raw(r, "ZADD", "z", "INCR", "XX", 1, "nope") is None
    assert raw(r, "ZADD", "z", "INCR", "GT", -1, "a") is None
    assert raw(r, "ZADD", "z", "INCR", "GT", 1, "a") == b"3.5"
    assert r.zincrby("z", 0.1, "a") == 3.6
    assert raw(r, "ZINCRBY", "z", "0.1", "b") == b"0.10000000000000001"
    assert r.zincrby("z", "inf", "a") == float("inf")
    assert err(r, "ZINCRBY", "z", "-inf", "a") == "resulting score is not a number (NaN)"
    assert r.zscore("z", "a") == float("inf")
    assert err(r, "ZINCRBY", "z", "x", "a") == NOT_FLOAT


def test_zadd_missing_key_with_xx_creates_nothing(r):
    assert r.execute_command("ZADD", "nokey", "XX", 1, "a") == 0
    assert raw(r, "ZADD", "nokey", "XX", "INCR", 1, "a") is None
    assert r.exists("nokey") == 0


def test_zadd_errors(r):
    assert err(r, "ZADD", "z") == "wrong number of arguments for 'zadd' command"
    assert err(r, "ZADD", "z", "NX", "XX", 1, "a") == \
        "XX and NX options at the same time are not compatible"
    for opts in (("GT", "LT"), ("GT", "NX"), ("LT", "NX")):
        assert err(r, "ZADD", "z", *opts, 1, "a") == \
            "GT, LT, and/or NX options at the same time are not compatible"
    assert err(r, "ZADD", "z", "INCR", 1, "a", 2, "b") == \
        "INCR option supports a single increment-element pair"
    assert err(r, "ZADD", "z", "NX", 1) == SYNTAX
    assert err(r, "ZADD", "z", 1, "a", 2) == SYNTAX
    for bad in ("x", "nan", " 1", "1 ", ""):
        assert err(r, "ZADD", "z", bad, "a") == NOT_FLOAT
    # a bad score anywhere means nothing is added
    assert err(r, "ZADD", "z", 1, "a", "x", "b") == NOT_FLOAT
    assert r.exists("z") == 0


def test_score_formats(r, enc):
    r.execute_command("ZADD", "z", "1e300", "big", "-0", "nz", "0.1", "t", "inf", "i", "-inf", "ni",
                      "0x10", "hex", "+inf", "pi")
    got = raw(r, "ZRANGE", "z", 0, -1, "WITHSCORES")
    scores = dict(zip(got[::2], got[1::2]))
    assert scores[b"t"] == b"0.10000000000000001"
    assert scores[b"big"] == b"1.0000000000000001e+300"
    assert scores[b"i"] == b"inf" and scores[b"ni"] == b"-inf" and scores[b"pi"] == b"inf"
    assert scores[b"hex"] == b"16"
    # a compact set keeps -0 as 0 (as Redis 7.0), a skiplist keeps the sign
    assert scores[b"nz"] == (b"0" if enc == "listpack" else b"-0")


# ---- ZREM / ZCARD / ZSCORE / ZMSCORE / ZRANK ------------------------------------


def test_zrem_zcard_and_empty_key_deleted(r, enc):
    abc(r)
    assert r.zcard("z") == 5
    assert r.zrem("z", "a", "nosuch", "b") == 2
    assert r.zcard("z") == 3
    assert r.zrem("nokey", "a") == 0
    assert r.zcard("nokey") == 0
    assert r.zrem("z", "c", "d", "e") == 3
    assert r.exists("z") == 0


def test_zscore_zmscore(r, enc):
    abc(r)
    assert r.zscore("z", "c") == 3.0
    assert r.zscore("z", "nosuch") is None
    assert r.zscore("nokey", "a") is None
    assert r.zmscore("z", ["a", "nosuch", "e"]) == [1.0, None, 5.0]
    assert r.zmscore("nokey", ["a", "b"]) == [None, None]


def test_zrank_zrevrank_withscore(r, enc):
    abc(r)
    assert r.zrank("z", "a") == 0
    assert r.zrevrank("z", "a") == 4
    assert r.zrank("z", "nosuch") is None
    assert r.zrank("nokey", "a") is None
    assert raw(r, "ZRANK", "z", "c", "WITHSCORE") == [2, b"3"]
    assert raw(r, "ZREVRANK", "z", "c", "withscore") == [2, b"3"]
    assert raw(r, "ZRANK", "z", "nosuch", "WITHSCORE") is None
    assert raw(r, "ZRANK", "nokey", "a", "WITHSCORE") is None
    assert err(r, "ZRANK", "z", "a", "foo") == SYNTAX
    assert err(r, "ZRANK", "z", "a", "WITHSCORE", "x") == "wrong number of arguments for 'zrank' command"


# ---- ranges ----------------------------------------------------------------------


def test_zrange_by_rank(r, enc):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 5, "g": 6})
    assert r.zrange("z", 0, -1) == [b"a", b"b", b"c", b"d", b"e", b"f", b"g"]
    assert r.zrange("z", 2, 4, withscores=True) == [(b"c", 3.0), (b"d", 4.0), (b"e", 5.0)]
    assert r.zrange("z", -3, -1) == [b"e", b"f", b"g"]
    assert r.zrange("z", 5, 2) == []
    assert r.zrange("z", 10, 20) == []
    assert r.zrange("z", -100, 100) == r.zrange("z", 0, -1)
    assert raw(r, "ZRANGE", "z", 0, 1, "REV", "WITHSCORES") == [b"g", b"6", b"f", b"5"]
    assert r.zrevrange("z", 0, 2) == [b"g", b"f", b"e"]
    assert r.zrange("nokey", 0, -1) == []


def test_zrange_by_score(r, enc):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 5, "g": 6})
    assert raw(r, "ZRANGE", "z", "(1", "(3", "BYSCORE", "WITHSCORES") == [b"b", b"2"]
    assert raw(r, "ZRANGE", "z", 5, 2, "BYSCORE", "REV") == [b"f", b"e", b"d", b"c", b"b"]
    assert raw(r, "ZRANGE", "z", 5, 2, "BYSCORE", "REV", "LIMIT", 1, 2) == [b"e", b"d"]
    assert raw(r, "ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 2, 3) == [b"c", b"d", b"e"]
    assert raw(r, "ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", -1, 3) == []
    assert raw(r, "ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 7, 3) == []
    assert raw(r, "ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 6, -1) == [b"g"]
    assert raw(r, "ZRANGE", "z", "(5", "(5", "BYSCORE") == []
    assert raw(r, "ZRANGE", "z", "5", "5", "BYSCORE") == [b"e", b"f"]
    assert raw(r, "ZRANGE", "z", "", "1", "BYSCORE") == [b"a"]  # strtod rules, as Redis
    assert r.zrangebyscore("z", 1, 2, withscores=True) == [(b"a", 1.0), (b"b", 2.0)]
    assert raw(r, "ZRANGEBYSCORE", "z", 1, 5, "LIMIT", 1, 2) == [b"b", b"c"]
    assert raw(r, "ZREVRANGEBYSCORE", "z", 5, 1, "WITHSCORES", "LIMIT", 0, 2) == [b"f", b"5", b"e", b"5"]
    assert r.zrevrangebyscore("z", 1, 5) == []


def test_zrange_by_lex(r, enc):
    r.zadd("z", {m: 0 for m in "abcdefg"})
    assert raw(r, "ZRANGE", "z", "-", "+", "BYLEX") == [m.encode() for m in "abcdefg"]
    assert raw(r, "ZRANGE", "z", "[b", "(e", "BYLEX") == [b"b", b"c", b"d"]
    assert raw(r, "ZRANGE", "z", "(e", "[b", "BYLEX", "REV", "LIMIT", 1, 1) == [b"c"]
    assert raw(r, "ZRANGE", "z", "-", "-", "BYLEX") == []
    assert r.zrangebylex("z", "-", "+", start=2, num=2) == [b"c", b"d"]
    assert r.zrevrangebylex("z", "[c", "-") == [b"c", b"b", b"a"]
    assert r.zlexcount("z", "[b", "[d") == 3
    assert r.zlexcount("z", "-", "+") == 7
    assert r.zlexcount("nokey", "-", "+") == 0


def test_zrange_errors(r):
    abc(r)
    assert err(r, "ZRANGE", "z", 0, -1, "LIMIT", 0, 1) == \
        "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    assert err(r, "ZRANGE", "z", 0, 1, "WITHSCORES", "BYLEX") == \
        "syntax error, WITHSCORES not supported in combination with BYLEX"
    assert err(r, "ZRANGEBYLEX", "z", "-", "+", "WITHSCORES") == \
        "syntax error, WITHSCORES not supported in combination with BYLEX"
    assert err(r, "ZRANGE", "z", "x", 1, "BYSCORE") == RANGE_FLOAT
    assert err(r, "ZRANGE", "z", "nan", 1, "BYSCORE") == RANGE_FLOAT
    assert err(r, "ZRANGE", "z", "a", "b", "BYLEX") == RANGE_LEX
    assert err(r, "ZRANGE", "z", "-a", "+", "BYLEX") == RANGE_LEX
    assert err(r, "ZRANGE", "z", "x", 1) == NOT_INT
    for extra in (("BYSCORE", "BYLEX"), ("REV", "REV"), ("LIMIT", 0), ("FOO",)):
        assert err(r, "ZRANGE", "z", 0, 1, *extra) == SYNTAX
    assert err(r, "ZRANGEBYSCORE", "z", 1, 2, "BYSCORE") == SYNTAX
    assert err(r, "ZREVRANGE", "z", 0, 2, "REV") == SYNTAX
    assert err(r, "ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", 0, "x") == NOT_INT
    assert err(r, "ZRANGESTORE", "d", "z", 0, 1, "WITHSCORES") == SYNTAX
    assert err(r, "ZCOUNT", "z", "x", 1) == RANGE_FLOAT
    assert err(r, "ZLEXCOUNT", "z", "a", "b") == RANGE_LEX


def test_zcount(r, enc):
    abc(r)
    assert r.zcount("z", 1, 3) == 3
    assert r.zcount("z", "(1", "(3") == 1
    assert r.zcount("z", "-inf", "+inf") == 5
    assert r.zcount("z", 10, 20) == 0
    assert r.zcount("z", 3, 1) == 0
    assert r.zcount("nokey", 0, 1) == 0


def test_zrangestore_across_shards(r, enc):
    src, dst = two_shards("zrs")
    assert shard_of(src) != shard_of(dst)
    abc(r, src)
    assert r.zrangestore(dst, src, 0, -1) == 5
    assert r.zrange(dst, 0, -1, withscores=True) == r.zrange(src, 0, -1, withscores=True)
    assert r.execute_command("ZRANGESTORE", dst, src, 2, 4, "BYSCORE", "LIMIT", 1, 1) == 1
    assert r.zrange(dst, 0, -1, withscores=True) == [(b"c", 3.0)]
    assert r.execute_command("ZRANGESTORE", dst, src, 5, 2, "BYSCORE", "REV") == 4
    assert r.zrange(dst, 0, -1) == [b"b", b"c", b"d", b"e"]
    assert r.execute_command("ZRANGESTORE", dst, src, "[a", "[c", "BYLEX") == 3
    # an empty result deletes the destination, whatever it held
    r.expire(dst, 100)
    assert r.zrangestore(dst, src, 10, 20) == 0
    assert r.exists(dst) == 0
    r.set(dst, "string")
    assert r.zrangestore(dst, "nokey", 0, -1) == 0
    assert r.exists(dst) == 0
    r.set(dst, "string")
    assert r.zrangestore(dst, src, 0, 0) == 1
    assert r.type(dst) == b"zset"
    r.set(src, "x")
    assert err(r, "ZRANGESTORE", dst, src, 0, -1) == WRONGTYPE


def test_zrangestore_onto_itself(r, enc):
    abc(r)
    assert r.zrangestore("z", "z", 1, 2) == 2
    assert r.zrange("z", 0, -1) == [b"b", b"c"]


def test_zremrange(r, enc):
    abc(r)
    assert r.zremrangebyrank("z", 0, 1) == 2
    assert r.zrange("z", 0, -1) == [b"c", b"d", b"e"]
    assert r.zremrangebyrank("z", 5, 10) == 0
    assert r.zremrangebyscore("z", "(3", 4) == 1
    assert r.zremrangebyscore("z", 10, 20) == 0
    assert r.zremrangebyrank("z", -100, 100) == 2
    assert r.exists("z") == 0
    r.zadd("z", {m: 0 for m in "abcde"})
    assert r.zremrangebylex("z", "[b", "(d") == 2
    assert r.zrange("z", 0, -1) == [b"a", b"d", b"e"]
    assert r.zremrangebylex("z", "-", "+") == 3
    assert r.exists("z") == 0
    assert r.zremrangebyrank("nokey", 0, 1) == 0
    assert err(r, "ZREMRANGEBYRANK", "z", "x", 1) == NOT_INT
    assert err(r, "ZREMRANGEBYSCORE", "z", "x", 1) == RANGE_FLOAT
    assert err(r, "ZREMRANGEBYLEX", "z", "x", "+") == RANGE_LEX


# ---- pops ------------------------------------------------------------------------


def test_zpopmin_zpopmax(r, enc):
    abc(r)
    assert raw(r, "ZPOPMIN", "z") == [b"a", b"1"]
    assert raw(r, "ZPOPMAX", "z") == [b"e", b"5"]
    assert raw(r, "ZPOPMIN", "z", 2) == [b"b", b"2", b"c", b"3"]
    assert raw(r, "ZPOPMIN", "z", 0) == []
    assert raw(r, "ZPOPMAX", "z", 100) == [b"d", b"4"]
    assert r.exists("z") == 0
    assert raw(r, "ZPOPMIN", "nokey") == []
    assert err(r, "ZPOPMIN", "z", -1) == "value is out of range, must be positive"
    assert err(r, "ZPOPMIN", "z", "x") == "value is out of range, must be positive"
    assert err(r, "ZPOPMIN", "z", 1, 2) == SYNTAX


def test_zmpop(r, enc):
    k0, k1 = two_shards("zmp")
    abc(r, k1)
    assert raw(r, "ZMPOP", 2, k0, k1, "MIN") == [k1.encode(), [[b"a", b"1"]]]
    assert raw(r, "ZMPOP", 2, k0, k1, "max", "COUNT", 2) == [k1.encode(), [[b"e", b"5"], [b"d", b"4"]]]
    assert raw(r, "ZMPOP", 1, k1, "MIN", "COUNT", 10) == [k1.encode(), [[b"b", b"2"], [b"c", b"3"]]]
    assert r.exists(k1) == 0
    assert raw(r, "ZMPOP", 2, k0, k1, "MIN") is None
    assert err(r, "ZMPOP", 0, "z", "MIN") == "numkeys should be greater than 0"
    assert err(r, "ZMPOP", "x", "z", "MIN") == "numkeys should be greater than 0"
    assert err(r, "ZMPOP", 2, "z", "MIN") == SYNTAX
    assert err(r, "ZMPOP", 1, "z", "foo") == SYNTAX
    assert err(r, "ZMPOP", 1, "z", "MIN", "COUNT", 0) == "count should be greater than 0"
    assert err(r, "ZMPOP", 1, "z", "MIN", "COUNT") == SYNTAX
    assert err(r, "ZMPOP", 1, "z", "MIN", "COUNT", 1, "COUNT", 2) == SYNTAX
    r.set("s", "x")
    assert err(r, "ZMPOP", 2, "nokey", "s", "MIN") == WRONGTYPE


def test_bzpop_serves_at_once(r, enc):
    k0, k1 = two_shards("bzp")
    abc(r, k1)
    assert raw(r, "BZPOPMIN", k0, k1, 0) == [k1.encode(), b"a", b"1"]
    assert raw(r, "BZPOPMAX", k0, k1, 0.5) == [k1.encode(), b"e", b"5"]
    assert raw(r, "BZMPOP", 0, 2, k0, k1, "MAX", "COUNT", 5) == \
        [k1.encode(), [[b"d", b"4"], [b"c", b"3"], [b"b", b"2"]]]
    assert r.exists(k1) == 0


def test_bzpop_errors(r):
    assert err(r, "BZPOPMIN", "z", "x") == "timeout is not a float or out of range"
    assert err(r, "BZPOPMIN", "z", -1) == "timeout is negative"
    assert err(r, "BZPOPMIN", "z", "1e30") == "timeout is negative"
    assert err(r, "BZMPOP", "x", 1, "z", "MIN") == "timeout is not a float or out of range"
    assert err(r, "BZMPOP", 0, 0, "z", "MIN") == "numkeys should be greater than 0"
    assert err(r, "BZMPOP", 0, 1, "z", "foo") == SYNTAX
    r.set("s", "x")
    assert err(r, "BZPOPMIN", "s", 0) == WRONGTYPE
    assert err(r, "BZMPOP", 0, 1, "s", "MIN") == WRONGTYPE


def test_bzpop_times_out_and_returns_nil_in_multi(r):
    t0 = time.monotonic()
    assert r.bzpopmin("nokey", 0.1) is None
    assert raw(r, "BZMPOP", "0.1", 1, "nokey", "MIN") is None
    assert time.monotonic() - t0 < 3
    p = r.pipeline(transaction=True)
    p.bzpopmin("nokey", 0)
    p.execute_command("BZMPOP", 0, 1, "nokey", "MIN")
    p.bzpopmax("nokey", 1)
    assert p.execute() == [None, None, None]


def test_bzpopmin_woken_by_zadd_from_another_shard_client(ringkv, r):
    k0, k1 = two_shards("bzw")
    results = []
    waiter = ringkv.client()
    t = threading.Thread(target=lambda: results.append(waiter.bzpopmin([k0, k1], 5)))
    t.start()
    deadline = time.monotonic() + 5
    while not any(c.get("cmd") == "bzpopmin" for c in r.client_list()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    r.zadd(k1, {"m": 7})
    t.join(6)
    assert results == [(k1.encode(), b"m", 7.0)]
    assert r.exists(k1) == 0


def test_bzmpop_woken_by_zadd(ringkv, r):
    k0, k1 = two_shards("bzmw")
    results = []
    waiter = ringkv.client()
    t = threading.Thread(target=lambda: results.append(
        waiter.execute_command("BZMPOP", 5, 2, k0, k1, "MAX", "COUNT", 2)))
    t.start()
    deadline = time.monotonic() + 5
    while not any(c.get("cmd") == "bzmpop" for c in r.client_list()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    r.zadd(k0, {"a": 1, "b": 2, "c": 3})
    t.join(6)
    assert results == [[k0.encode(), [[b"c", b"3"], [b"b", b"2"]]]]
    assert r.zrange(k0, 0, -1) == [b"a"]


# ---- ZRANDMEMBER -----------------------------------------------------------------


def test_zrandmember(r, enc):
    abc(r)
    members = {b"a", b"b", b"c", b"d", b"e"}
    assert r.zrandmember("z") in members
    assert r.zrandmember("nokey") is None
    assert raw(r, "ZRANDMEMBER", "nokey", 5) == []
    assert raw(r, "ZRANDMEMBER", "z", 0) == []
    got = raw(r, "ZRANDMEMBER", "z", 3)
    assert len(got) == 3 and len(set(got)) == 3 and set(got) <= members
    assert sorted(raw(r, "ZRANDMEMBER", "z", 10)) == sorted(members)
    got = raw(r, "ZRANDMEMBER", "z", -20, "WITHSCORES")
    assert len(got) == 40
    for m, s in zip(got[::2], got[1::2]):
        assert r.zscore("z", m) == float(s)
    got = raw(r, "ZRANDMEMBER", "z", 5, "WITHSCORES")
    assert dict(zip(got[::2], got[1::2])) == {b"a": b"1", b"b": b"2", b"c": b"3", b"d": b"4", b"e": b"5"}
    assert err(r, "ZRANDMEMBER", "z", "x") == NOT_INT
    assert err(r, "ZRANDMEMBER", "z", 1, "x") == SYNTAX
    assert err(r, "ZRANDMEMBER", "z", -9223372036854775808) == \
        "value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    assert err(r, "ZRANDMEMBER", "z", 4611686018427387904, "WITHSCORES") == "value is out of range"


def test_zrandmember_distinct_from_large_set(r, enc):
    r.zadd("z", {f"m{i}": i for i in range(300)})
    for count in (5, 100, 299):
        got = raw(r, "ZRANDMEMBER", "z", count)
        assert len(got) == count and len(set(got)) == count


# ---- ZUNION / ZINTER / ZDIFF ----------------------------------------------------


def test_set_operations(r, enc):
    k1, k2 = two_shards("zop")
    k3 = keys_on_shard(0, 2, "zop3")[1]
    r.zadd(k1, {"a": 1, "b": 2, "c": 3})
    r.zadd(k2, {"b": 10, "c": 20, "d": 30})
    r.zadd(k3, {"c": 100, "d": 200, "e": 300})
    assert raw(r, "ZUNION", 3, k1, k2, k3, "WITHSCORES") == [
        b"a", b"1", b"b", b"12", b"c", b"123", b"d", b"230", b"e", b"300"]
    assert raw(r, "ZUNION", 3, k1, k2, k3, "WEIGHTS", 1, 2, 3, "WITHSCORES") == [
        b"a", b"1", b"b", b"22", b"c", b"343", b"d", b"660", b"e", b"900"]
    assert raw(r, "ZUNION", 3, k1, k2, k3, "AGGREGATE", "MIN", "WITHSCORES") == [
        b"a", b"1", b"b", b"2", b"c", b"3", b"d", b"30", b"e", b"300"]
    assert raw(r, "ZUNION", 3, k1, k2, k3, "AGGREGATE", "MAX") == [b"a", b"b", b"c", b"d", b"e"]
    assert raw(r, "ZINTER", 2, k1, k2, "WITHSCORES") == [b"b", b"12", b"c", b"23"]
    assert raw(r, "ZINTER", 3, k1, k2, k3, "WITHSCORES") == [b"c", b"123"]
    assert raw(r, "ZINTER", 2, k1, k2, "WEIGHTS", 2, 0.5, "AGGREGATE", "MIN", "WITHSCORES") == [
        b"b", b"4", b"c", b"6"]
    assert raw(r, "ZINTER", 2, k1, "nokey") == []
    assert raw(r, "ZDIFF", 2, k1, k2, "WITHSCORES") == [b"a", b"1"]
    assert raw(r, "ZDIFF", 3, k3, k1, k2, "WITHSCORES") == [b"e", b"300"]
    assert raw(r, "ZDIFF", 2, "nokey", k1) == []
    assert r.zintercard(2, [k1, k2]) == 2
    assert r.zintercard(2, [k1, k2], limit=1) == 1
    assert r.zintercard(3, [k1, k2, k3]) == 1
    assert r.zintercard(2, [k1, "nokey"]) == 0


def test_set_operations_store(r, enc):
    k1, k2 = two_shards("zst")
    dst = keys_on_shard(1, 2, "zstd")[1]
    r.zadd(k1, {"a": 1, "b": 2, "c": 3})
    r.zadd(k2, {"b": 10, "c": 20, "d": 30})
    assert r.zunionstore(dst, [k1, k2]) == 4
    assert r.zrange(dst, 0, -1, withscores=True) == [(b"a", 1.0), (b"b", 12.0), (b"c", 23.0), (b"d", 30.0)]
    assert r.zinterstore(dst, {k1: 1, k2: -1}) == 2
    assert r.zrange(dst, 0, -1, withscores=True) == [(b"c", -17.0), (b"b", -8.0)]
    assert r.zdiffstore(dst, [k1, k2]) == 1
    assert r.zrange(dst, 0, -1, withscores=True) == [(b"a", 1.0)]
    r.expire(dst, 100)
    assert r.zinterstore(dst, [k1, "nokey"]) == 0
    assert r.exists(dst) == 0
    r.set(dst, "x")
    assert r.zunionstore(dst, [k1]) == 3
    assert r.type(dst) == b"zset"
    assert r.zunionstore(k1, [k1, k2]) == 4  # destination among the inputs
    assert r.zscore(k1, "c") == 23.0


def test_set_operation_infinities_and_nan_weights(r):
    r.zadd("i1", {"x": float("inf"), "y": float("-inf")})
    r.zadd("i2", {"x": float("-inf"), "y": float("inf"), "z": 0})
    # inf + -inf is taken as 0, and so is 0 * inf
    assert raw(r, "ZUNION", 2, "i1", "i2", "WITHSCORES") == [b"x", b"0", b"y", b"0", b"z", b"0"]
    assert raw(r, "ZUNION", 1, "i1", "WEIGHTS", 0, "WITHSCORES") == [b"x", b"0", b"y", b"0"]
    assert raw(r, "ZUNION", 1, "i1", "WEIGHTS", "-inf", "WITHSCORES") == [b"x", b"-inf", b"y", b"inf"]


def test_set_operation_errors(r):
    abc(r)
    r.set("s", "x")
    assert err(r, "ZUNION", 0, "z") == "at least 1 input key is needed for 'zunion' command"
    assert err(r, "ZUNIONSTORE", "d", 0, "z") == "at least 1 input key is needed for 'zunionstore' command"
    assert err(r, "ZINTERCARD", 0, "z") == "at least 1 input key is needed for 'zintercard' command"
    assert err(r, "ZUNION", 2, "z") == SYNTAX
    assert err(r, "ZUNION", "x", "z") == NOT_INT
    assert err(r, "ZUNION", 1, "z", "WEIGHTS", 1, 2) == SYNTAX
    assert err(r, "ZUNION", 1, "z", "WEIGHTS", "x") == "weight value is not a float"
    assert err(r, "ZUNION", 1, "z", "AGGREGATE", "foo") == SYNTAX
    assert err(r, "ZUNION", 1, "z", "foo") == SYNTAX
    assert err(r, "ZUNIONSTORE", "d", 1, "z", "WITHSCORES") == SYNTAX
    assert err(r, "ZDIFF", 1, "z", "WEIGHTS", 1) == SYNTAX
    assert err(r, "ZDIFF", 1, "z", "AGGREGATE", "SUM") == SYNTAX
    assert err(r, "ZINTERCARD", 1, "z", "LIMIT", -1) == "LIMIT can't be negative"
    assert err(r, "ZINTERCARD", 1, "z", "WITHSCORES") == SYNTAX
    # keys are checked before the options
    assert err(r, "ZUNION", 1, "s", "foo") == WRONGTYPE
    assert err(r, "ZINTERSTORE", "d", 2, "z", "s") == WRONGTYPE


def test_set_inputs_count_with_score_one(r):
    try:
        r.sadd("set", "a", "x")
    except redis.ResponseError as e:
        pytest.skip(f"sets not available: {e}")
    r.zadd("z", {"a": 5, "b": 2})
    try:
        raw(r, "ZUNION", 1, "set")
    except redis.ResponseError as e:
        pytest.skip(f"set inputs need core/t_set.h's set_for_each_member: {e}")
    assert raw(r, "ZUNION", 2, "z", "set", "WITHSCORES") == [b"x", b"1", b"b", b"2", b"a", b"6"]
    assert raw(r, "ZINTER", 2, "z", "set", "WITHSCORES") == [b"a", b"6"]
    assert raw(r, "ZDIFF", 2, "set", "z", "WITHSCORES") == [b"x", b"1"]


# ---- ZSCAN -------------------------------------------------------------------------


def test_zscan(r, enc):
    members = {f"m{i}": i for i in range(200)}
    r.zadd("z", members)
    seen, cursor = {}, 0
    while True:
        cursor, items = r.zscan("z", cursor, count=20)
        seen.update(items)
        if cursor == 0:
            break
    assert seen == {m.encode(): float(s) for m, s in members.items()}
    _, items = r.zscan("z", 0, match="m1?", count=1000)
    assert sorted(items) == sorted((f"m1{i}".encode(), float(10 + i)) for i in range(10))


def test_zscan_small_set_in_one_call_and_errors(r):
    r.zadd("z", {"a": 1.5, "b": 0.1, "c": 1e20})
    assert raw(r, "ZSCAN", "z", 0) == [b"0", [b"b", b"0.10000000000000001", b"a", b"1.5", b"c", b"1e+20"]]
    assert raw(r, "ZSCAN", "nokey", 0, "COUNT", 0) == [b"0", []]
    assert err(r, "ZSCAN", "z", "x") == "invalid cursor"
    assert err(r, "ZSCAN", "z", 0, "COUNT", 0) == SYNTAX
    assert err(r, "ZSCAN", "z", 0, "foo") == SYNTAX


# ---- WRONGTYPE, keyspace integration ----------------------------------------------


@pytest.mark.parametrize("cmd", [
    ("ZADD", "s", 1, "a"), ("ZINCRBY", "s", 1, "a"), ("ZREM", "s", "a"), ("ZCARD", "s"),
    ("ZCOUNT", "s", 0, 1), ("ZLEXCOUNT", "s", "-", "+"), ("ZSCORE", "s", "a"), ("ZMSCORE", "s", "a"),
    ("ZRANK", "s", "a"), ("ZREVRANK", "s", "a"), ("ZRANGE", "s", 0, 1), ("ZRANGESTORE", "d", "s", 0, 1),
    ("ZRANGEBYSCORE", "s", 0, 1), ("ZREVRANGEBYSCORE", "s", 1, 0), ("ZRANGEBYLEX", "s", "-", "+"),
    ("ZREVRANGEBYLEX", "s", "+", "-"), ("ZREVRANGE", "s", 0, 1), ("ZREMRANGEBYRANK", "s", 0, 1),
    ("ZREMRANGEBYSCORE", "s", 0, 1), ("ZREMRANGEBYLEX", "s", "-", "+"), ("ZPOPMIN", "s"),
    ("ZPOPMAX", "s", 0), ("ZMPOP", 1, "s", "MIN"), ("ZRANDMEMBER", "s"), ("ZRANDMEMBER", "s", 0),
    ("ZUNION", 1, "s"), ("ZINTER", 1, "s"), ("ZDIFF", 1, "s"), ("ZUNIONSTORE", "d", 1, "s"),
    ("ZINTERSTORE", "d", 1, "s"), ("ZDIFFSTORE", "d", 1, "s"), ("ZINTERCARD", 1, "s"),
    ("ZSCAN", "s", 0), ("BZPOPMIN", "s", 0), ("BZPOPMAX", "s", 0), ("BZMPOP", 0, 1, "s", "MAX"),
])
def test_wrongtype_against_string(r, cmd):
    r.set("s", "x")
    assert err(r, *cmd) == WRONGTYPE
    assert r.get("s") == b"x"


def test_keyspace_commands_with_zsets(r, enc):
    src, other = two_shards("zks")
    abc(r, src)
    assert r.type(src) == b"zset"
    assert r.copy(src, other) is True  # across shards: the value is copied
    assert r.zrange(other, 0, -1, withscores=True) == r.zrange(src, 0, -1, withscores=True)
    assert r.object("encoding", other).decode() == enc
    r.zadd(other, {"z": 9})
    assert r.zcard(src) == 5  # a deep copy
    r.delete(other)
    r.rename(src, other)
    assert r.zcard(other) == 5 and r.exists(src) == 0
    assert r.move(other, 1) is True
    r.execute_command("SELECT", 1)
    try:
        assert r.zcard(other) == 5
        r.execute_command("MOVE", other, 0)
    finally:
        r.execute_command("SELECT", 0)
    assert r.expire(other, 100) is True
    assert 0 < r.ttl(other) <= 100
    assert r.set("str", "x")
    assert sorted(r.scan_iter(_type="zset")) == [other.encode()]
    assert r.delete(other) == 1
    assert r.exists(other) == 0


# ---- encodings ---------------------------------------------------------------------


def test_encoding_transitions(r, thresholds):
    thresholds(3, 5)
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.object("encoding", "z") == b"listpack"
    r.zadd("z", {"d": 4})
    assert r.object("encoding", "z") == b"skiplist"
    r.zrem("z", "a", "b", "c")
    assert r.object("encoding", "z") == b"skiplist"  # never converted back
    r.zadd("y", {"abcde": 1})
    assert r.object("encoding", "y") == b"listpack"
    r.zadd("y", {"abcdef": 1})
    assert r.object("encoding", "y") == b"skiplist"
    r.zadd("w", {"a": 1, "b": 2, "c": 3, "d": 4})
    r.zrangestore("d", "w", 0, 2)
    assert r.object("encoding", "d") == b"listpack"
    r.zrangestore("d", "w", 0, 3)
    assert r.object("encoding", "d") == b"skiplist"
    r.zremrangebyrank("w", 0, 0)
    assert r.object("encoding", "w") == b"skiplist"
    r.zunionstore("d", ["w"])
    assert r.object("encoding", "d") == b"listpack"  # store results take the compact form when they fit
    r.zunionstore("d", ["y"])
    assert r.object("encoding", "d") == b"skiplist"  # a member too long
    thresholds(0)
    r.zadd("e", {"a": 1})
    assert r.object("encoding", "e") == b"skiplist"


def test_large_set_stays_correct_across_conversion(r, thresholds):
    thresholds(16, 64)
    for i in range(40):
        r.zadd("z", {f"m{i:02d}": (i * 7) % 40})
    assert r.object("encoding", "z") == b"skiplist"
    want = sorted((f"m{i:02d}".encode(), float((i * 7) % 40)) for i in range(40))
    assert sorted(r.zrange("z", 0, -1, withscores=True)) == want
    assert [s for _, s in r.zrange("z", 0, -1, withscores=True)] == sorted(s for _, s in want)
    for i in range(40):
        m = f"m{i:02d}"
        assert r.zrank("z", m) == sorted(s for _, s in want).index((i * 7) % 40)


# ---- RESP3 -------------------------------------------------------------------------


def test_resp3_reply_shapes(ringkv, r):
    k0, k1 = two_shards("r3")
    abc(r, k1)
    with ringkv.raw() as c:
        c.call("HELLO", "3")
        assert c.call("ZSCORE", k1, "b") == 2.0
        assert c.call("ZSCORE", k1, "nope") is None
        assert c.call("ZMSCORE", k1, "a", "nope") == [1.0, None]
        assert c.call("ZINCRBY", k1, "0.5", "a") == 1.5
        assert c.call("ZRANGE", k1, 0, 1, "WITHSCORES") == [[b"a", 1.5], [b"b", 2.0]]
        assert c.call("ZRANGE", k1, 0, 1) == [b"a", b"b"]
        assert c.call("ZRANGEBYSCORE", k1, 2, 3, "WITHSCORES") == [[b"b", 2.0], [b"c", 3.0]]
        assert c.call("ZRANK", k1, "c", "WITHSCORE") == [2, 3.0]
        assert c.call("ZUNION", 1, k1, "WITHSCORES")[0] == [b"a", 1.5]
        assert c.call("ZRANDMEMBER", k1, 1, "WITHSCORES")[0][0] in (b"a", b"b", b"c", b"d", b"e")
        assert c.call("ZPOPMIN", k1) == [b"a", 1.5]            # no count: flat
        assert c.call("ZPOPMIN", k1, 1) == [[b"b", 2.0]]       # with count: nested
        assert c.call("ZPOPMAX", k1, 2) == [[b"e", 5.0], [b"d", 4.0]]
        assert c.call("BZPOPMIN", k0, k1, 0) == [k1.encode(), b"c", 3.0]
        r.zadd(k1, {"x": 1})
        assert c.call("ZMPOP", 2, k0, k1, "MIN") == [k1.encode(), [[b"x", 1.0]]]
        assert c.call("ZMPOP", 1, k1, "MIN") is None
        r.zadd(k1, {"x": 1})
        assert c.call("ZSCAN", k1, 0) == [b"0", [b"x", b"1"]]  # scores stay bulk strings
        assert c.call("ZADD", k1, "INCR", "inf", "x") == float("inf")


def test_pipeline_mixed_zset_commands(r):
    p = r.pipeline(transaction=False)
    for i in range(50):
        p.zadd(f"pz{i % 5}", {f"m{i}": i})
    for i in range(5):
        p.zcard(f"pz{i}")
    res = p.execute()
    assert res[:50] == [1] * 50
    assert res[50:] == [10] * 5
