"""List commands: replies, exact Redis 7.0 errors, RESP3 shapes, encodings,
multi-key commands with keys on both shards, and the blocking variants.

Expected values were taken from a real redis-server 7.0.15. Uses the `r`
fixture (redis-py, RESP2, flushed before each test) and `ringkv.raw()` for
RESP3 and for replies redis-py would convert."""
import random
import threading
import time

import pytest
import redis

from conftest import keys_on_shard, shard_of
from conftest import err, raw, WRONGTYPE, NOT_INT, SYNTAX

POSITIVE = "value is out of range, must be positive"
RANK_ZERO = ("RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
             "or use negative to start from the end of the list")


def raw_line(ringkv, *args, resp=2):
    """The first line of the raw reply (tells *-1 from $-1 and _)."""
    with ringkv.raw() as c:
        if resp == 3:
            c.call("HELLO", "3")
        c.send(*args)
        return c.read_line()


def two_shard_keys(prefix):
    """One key on shard 0 and one on shard 1."""
    a, b = keys_on_shard(0, 1, prefix + "0")[0], keys_on_shard(1, 1, prefix + "1")[0]
    assert shard_of(a) != shard_of(b)
    return a, b


# ---------------------------------------------------------------- push / pop


def test_push_and_len(r):
    assert r.rpush("l", "a", "b") == 2
    assert r.lpush("l", "x", "y") == 4
    assert r.lrange("l", 0, -1) == [b"y", b"x", b"a", b"b"]
    assert r.llen("l") == 4
    assert r.llen("nokey") == 0
    assert r.type("l") == b"list"


def test_pushx_only_on_existing(r):
    assert r.lpushx("nokey", "a") == 0
    assert r.execute_command("RPUSHX", "nokey", "a", "b") == 0
    assert r.exists("nokey") == 0
    r.rpush("l", "m")
    assert r.execute_command("LPUSHX", "l", "a", "b") == 3
    assert r.rpushx("l", "z") == 4
    assert r.lrange("l", 0, -1) == [b"b", b"a", b"m", b"z"]


def test_push_arity(r):
    assert err(r, "LPUSH", "l") == "wrong number of arguments for 'lpush' command"
    assert err(r, "RPUSHX", "l") == "wrong number of arguments for 'rpushx' command"


def test_pop_single_and_count(r):
    r.rpush("l", "a", "b", "c", "d", "e")
    assert r.lpop("l") == b"a"
    assert r.rpop("l") == b"e"
    assert raw(r, "LPOP", "l", "2") == [b"b", b"c"]
    assert raw(r, "RPOP", "l", "100") == [b"d"]
    assert r.exists("l") == 0  # the last pop deletes the key


def test_pop_count_edge_cases(r, ringkv):
    r.rpush("l", "a", "b")
    assert raw(r, "LPOP", "l", "0") == []
    assert r.llen("l") == 2
    assert err(r, "LPOP", "l", "-1") == POSITIVE
    assert err(r, "RPOP", "l", "abc") == POSITIVE
    assert err(r, "LPOP", "l", "1", "2") == "wrong number of arguments for 'lpop' command"
    assert r.lpop("nokey") is None
    assert raw_line(ringkv, "LPOP", "nokey", "0") == b"*-1"
    assert raw_line(ringkv, "LPOP", "nokey") == b"$-1"
    assert raw_line(ringkv, "RPOP", "nokey", "3", resp=3) == b"_"
    # the count is checked before the key
    assert err(r, "LPOP", "nokey", "-5") == POSITIVE


def test_integers_round_trip(r):
    values = ["1", "2", "-3", "123456789012345678901", "0x1", "-0", "01", " 1",
              "9223372036854775807", "-9223372036854775808", "9223372036854775808", "1.5", ""]
    r.rpush("n", *values)
    assert r.lrange("n", 0, -1) == [v.encode() for v in values]
    assert r.lpos("n", "-3") == 2
    assert r.lpos("n", "01") == 6
    assert r.lpos("n", "1") == 0
    assert r.lrem("n", 0, "-0") == 1
    assert r.lindex("n", 4) == b"0x1"


def test_binary_and_large_values(r):
    big = b"\x00\xff" * 40000
    r.rpush("l", b"\x00a\r\n", big, b"")
    assert r.lrange("l", 0, -1) == [b"\x00a\r\n", big, b""]
    assert r.lindex("l", 1) == big
    assert r.rpop("l") == b""


# ---------------------------------------------------------------- reads


def test_lrange_ranges(r):
    r.rpush("l", *"abcdef")
    assert r.lrange("l", 0, -1) == [c.encode() for c in "abcdef"]
    assert r.lrange("l", -100, 100) == [c.encode() for c in "abcdef"]
    assert r.lrange("l", 3, 1) == []
    assert r.lrange("l", -1, -1) == [b"f"]
    assert r.lrange("l", -2, -3) == []
    assert r.lrange("l", 6, 7) == []
    assert r.lrange("l", 5, 7) == [b"f"]
    assert r.lrange("l", -7, -6) == [b"a"]
    assert r.lrange("nokey", 0, -1) == []
    assert err(r, "LRANGE", "l", "x", "1") == NOT_INT
    assert err(r, "LRANGE", "l", "1", "x") == NOT_INT
    assert err(r, "LRANGE", "nokey", "x", "1") == NOT_INT


def test_lindex(r):
    r.rpush("l", "a", "b", "c")
    assert r.lindex("l", 0) == b"a"
    assert r.lindex("l", -1) == b"c"
    assert r.lindex("l", 3) is None
    assert r.lindex("l", -4) is None
    assert r.lindex("nokey", 0) is None
    assert err(r, "LINDEX", "l", "x") == NOT_INT
    # a missing key answers nil before the index is parsed, as Redis
    assert r.execute_command("LINDEX", "nokey", "x") is None


def test_lpos(r):
    r.rpush("l", *"abcabc")
    assert r.lpos("l", "a") == 0
    assert r.lpos("l", "a", rank=2) == 3
    assert r.lpos("l", "a", rank=-1) == 3
    assert r.lpos("l", "a", count=0) == [0, 3]
    assert r.lpos("l", "a", rank=-1, count=0) == [3, 0]
    assert r.lpos("l", "b", rank=2, count=5) == [4]
    assert r.lpos("l", "b", rank=-1, count=1, maxlen=3) == [4]
    assert r.lpos("l", "b", rank=-1, maxlen=4) == 4
    assert r.lpos("l", "c", maxlen=2) is None
    assert r.lpos("l", "a", count=1, maxlen=1) == [0]
    assert raw(r, "LPOS", "l", "a", "RANK", "-2", "COUNT", "5", "MAXLEN", "0") == [0]
    assert r.lpos("l", "z") is None
    assert r.lpos("l", "z", count=0) == []
    assert r.lpos("nokey", "a") is None
    assert r.lpos("nokey", "a", count=1) == []
    assert raw(r, "LPOS", "l", "a", "RANK", "-9223372036854775808") == 3


def test_lpos_errors(r):
    r.rpush("l", "a")
    assert err(r, "LPOS", "l", "a", "RANK", "0") == RANK_ZERO
    assert err(r, "LPOS", "l", "a", "RANK", "x") == NOT_INT
    assert err(r, "LPOS", "l", "a", "COUNT", "-1") == "COUNT can't be negative"
    assert err(r, "LPOS", "l", "a", "COUNT", "x") == "COUNT can't be negative"
    assert err(r, "LPOS", "l", "a", "MAXLEN", "-1") == "MAXLEN can't be negative"
    assert err(r, "LPOS", "l", "a", "MAXLEN", "x") == "MAXLEN can't be negative"
    assert err(r, "LPOS", "l", "a", "RANK") == SYNTAX
    assert err(r, "LPOS", "l", "a", "FOO") == SYNTAX
    # options are parsed before the key is looked up
    assert err(r, "LPOS", "nokey", "a", "RANK", "0") == RANK_ZERO


# ---------------------------------------------------------------- in place


def test_lset(r):
    r.rpush("l", "a", "b", "c")
    assert r.lset("l", 0, "A") is True
    assert r.lset("l", -1, "C") is True
    assert r.lrange("l", 0, -1) == [b"A", b"b", b"C"]
    assert err(r, "LSET", "nokey", "0", "x") == "no such key"
    assert err(r, "LSET", "nokey", "x", "x") == "no such key"
    assert err(r, "LSET", "l", "3", "x") == "index out of range"
    assert err(r, "LSET", "l", "-4", "x") == "index out of range"
    assert err(r, "LSET", "l", "x", "x") == NOT_INT


def test_linsert(r):
    r.rpush("l", "a", "c")
    assert r.linsert("l", "before", "c", "b") == 3
    assert r.linsert("l", "AFTER", "c", "d") == 4
    assert r.linsert("l", "before", "a", "0") == 5
    assert r.lrange("l", 0, -1) == [b"0", b"a", b"b", b"c", b"d"]
    assert r.linsert("l", "before", "zz", "x") == -1
    assert r.linsert("nokey", "before", "a", "x") == 0
    assert r.exists("nokey") == 0
    assert err(r, "LINSERT", "l", "middle", "a", "x") == SYNTAX
    assert err(r, "LINSERT", "nokey", "middle", "a", "x") == SYNTAX


def test_lrem(r):
    r.rpush("l", *"abcabcab")
    assert r.lrem("l", -1, "a") == 1
    assert r.lrange("l", 0, -1) == [c.encode() for c in "abcabcb"]
    assert r.lrem("l", 1, "b") == 1
    assert r.lrange("l", 0, -1) == [c.encode() for c in "acabcb"]
    assert r.lrem("l", 0, "b") == 2
    assert r.lrange("l", 0, -1) == [c.encode() for c in "acac"]
    assert r.lrem("l", 5, "zz") == 0
    assert r.lrem("nokey", 0, "a") == 0
    assert err(r, "LREM", "l", "x", "a") == NOT_INT
    assert r.execute_command("LREM", "l", "-9223372036854775808", "c") == 2
    assert r.lrem("l", 0, "a") == 2
    assert r.exists("l") == 0


def test_ltrim(r):
    r.rpush("l", *"123456789")
    assert r.ltrim("l", 2, -3) is True
    assert r.lrange("l", 0, -1) == [c.encode() for c in "34567"]
    assert r.ltrim("l", -100, 100) is True
    assert r.llen("l") == 5
    assert r.ltrim("l", 1, 1) is True
    assert r.lrange("l", 0, -1) == [b"4"]
    assert r.ltrim("nokey", 0, 1) is True
    assert err(r, "LTRIM", "l", "x", "1") == NOT_INT
    assert r.ltrim("l", 5, 1) is True
    assert r.exists("l") == 0


# ---------------------------------------------------------------- moves


@pytest.mark.parametrize("wfrom,wto,src_after,dst_after,moved", [
    ("LEFT", "LEFT", [b"b", b"c"], [b"a", b"x"], b"a"),
    ("LEFT", "RIGHT", [b"b", b"c"], [b"x", b"a"], b"a"),
    ("RIGHT", "LEFT", [b"a", b"b"], [b"c", b"x"], b"c"),
    ("RIGHT", "RIGHT", [b"a", b"b"], [b"x", b"c"], b"c"),
])
def test_lmove_directions_across_shards(r, wfrom, wto, src_after, dst_after, moved):
    src, dst = two_shard_keys("mv")
    for s, d in ((src, dst), (dst, src)):
        r.delete(s, d)
        r.rpush(s, "a", "b", "c")
        r.rpush(d, "x")
        assert r.execute_command("LMOVE", s, d, wfrom, wto) == moved
        assert r.lrange(s, 0, -1) == src_after
        assert r.lrange(d, 0, -1) == dst_after


def test_lmove_same_key_rotates(r):
    r.rpush("l", "a", "b", "c")
    assert r.lmove("l", "l", "LEFT", "RIGHT") == b"a"
    assert r.lrange("l", 0, -1) == [b"b", b"c", b"a"]
    assert r.rpoplpush("l", "l") == b"a"
    assert r.lrange("l", 0, -1) == [b"a", b"b", b"c"]
    r.rpush("one", "x")
    assert r.lmove("one", "one", "LEFT", "LEFT") == b"x"
    assert r.lrange("one", 0, -1) == [b"x"]


def test_lmove_creates_and_deletes(r):
    src, dst = two_shard_keys("mvc")
    r.rpush(src, "only")
    assert r.rpoplpush(src, dst) == b"only"
    assert r.exists(src) == 0
    assert r.lrange(dst, 0, -1) == [b"only"]
    assert r.lmove("nokey", dst, "LEFT", "LEFT") is None
    assert r.rpoplpush("nokey", dst) is None


def test_lmove_errors(r):
    r.rpush("l", "a", "b")
    r.set("s", "x")
    assert err(r, "LMOVE", "l", "d", "MIDDLE", "LEFT") == SYNTAX
    assert err(r, "LMOVE", "l", "d", "LEFT", "MIDDLE") == SYNTAX
    assert err(r, "LMOVE", "l", "s", "LEFT", "LEFT") == WRONGTYPE
    assert err(r, "RPOPLPUSH", "s", "l") == WRONGTYPE
    assert r.lrange("l", 0, -1) == [b"a", b"b"]  # untouched on error
    # a missing source answers nil even when the destination is of another type
    assert r.lmove("nokey", "s", "LEFT", "LEFT") is None


def test_lmpop(r):
    a, b = two_shard_keys("mp")
    r.rpush(b, "1", "2", "3")
    assert raw(r, "LMPOP", "2", a, b, "RIGHT", "COUNT", "2") == [b.encode(), [b"3", b"2"]]
    assert raw(r, "LMPOP", "2", a, b, "left") == [b.encode(), [b"1"]]
    assert r.exists(b) == 0
    assert raw(r, "LMPOP", "2", a, b, "LEFT") is None
    r.rpush(a, "x", "y")
    r.rpush(b, "z")
    assert raw(r, "LMPOP", "2", a, b, "LEFT", "COUNT", "10") == [a.encode(), [b"x", b"y"]]
    assert r.lrange(b, 0, -1) == [b"z"]


def test_lmpop_errors(r, ringkv):
    r.rpush("l", "a")
    assert err(r, "LMPOP", "0", "l", "LEFT") == "numkeys should be greater than 0"
    assert err(r, "LMPOP", "-1", "l", "LEFT") == "numkeys should be greater than 0"
    assert err(r, "LMPOP", "x", "l", "LEFT") == "numkeys should be greater than 0"
    assert err(r, "LMPOP", "5", "l", "LEFT") == SYNTAX
    assert err(r, "LMPOP", "2", "l", "LEFT") == SYNTAX
    assert err(r, "LMPOP", "1", "l", "MIDDLE") == SYNTAX
    assert err(r, "LMPOP", "1", "l", "LEFT", "COUNT", "0") == "count should be greater than 0"
    assert err(r, "LMPOP", "1", "l", "LEFT", "COUNT", "-1") == "count should be greater than 0"
    assert err(r, "LMPOP", "1", "l", "LEFT", "COUNT", "x") == "count should be greater than 0"
    assert err(r, "LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "1") == SYNTAX
    assert err(r, "LMPOP", "1", "l", "LEFT", "COUNT") == SYNTAX
    assert err(r, "LMPOP", "1", "l", "LEFT", "FOO") == SYNTAX
    assert r.llen("l") == 1
    assert raw_line(ringkv, "LMPOP", "1", "nokey", "LEFT") == b"*-1"
    assert raw_line(ringkv, "LMPOP", "1", "nokey", "LEFT", resp=3) == b"_"


# ---------------------------------------------------------------- WRONGTYPE


@pytest.mark.parametrize("args", [
    ("LPUSH", "s", "a"), ("RPUSH", "s", "a"), ("LPUSHX", "s", "a"), ("RPUSHX", "s", "a"),
    ("LPOP", "s"), ("RPOP", "s", "1"), ("LLEN", "s"), ("LRANGE", "s", "0", "1"),
    ("LINDEX", "s", "0"), ("LSET", "s", "0", "a"), ("LINSERT", "s", "BEFORE", "a", "b"),
    ("LREM", "s", "0", "a"), ("LTRIM", "s", "0", "1"), ("LPOS", "s", "a"),
    ("LMOVE", "s", "d", "LEFT", "LEFT"), ("RPOPLPUSH", "s", "d"), ("LMPOP", "1", "s", "LEFT"),
    ("BLPOP", "s", "0"), ("BRPOP", "nokey", "s", "0"), ("BLMOVE", "s", "d", "LEFT", "LEFT", "0"),
    ("BRPOPLPUSH", "s", "d", "0"), ("BLMPOP", "0", "2", "nokey", "s", "LEFT"),
])
def test_wrongtype(r, args):
    r.set("s", "x")
    assert err(r, *args) == WRONGTYPE
    assert r.get("s") == b"x"


def test_wrong_type_key_after_a_served_key_is_not_checked(r):
    r.set("s", "x")
    r.rpush("l", "a", "b")
    assert r.blpop(["l", "s"], 0) == (b"l", b"a")
    assert raw(r, "LMPOP", "2", "l", "s", "LEFT") == [b"l", [b"b"]]


# ---------------------------------------------------------------- RESP3


def test_resp3_shapes(ringkv, r):
    r.rpush("l", "a", "b", "c", "d")
    with ringkv.raw() as c:
        c.call("HELLO", "3")
        assert c.call("LRANGE", "l", "0", "1") == [b"a", b"b"]
        assert c.call("LPOP", "l", "2") == [b"a", b"b"]
        assert c.call("LMPOP", "1", "l", "LEFT") == [b"l", [b"c"]]
        assert c.call("BLPOP", "l", "0") == [b"l", b"d"]
        assert c.call("LPOS", "nokey", "a") is None
        c.send("LPOS", "nokey", "a")
        assert c.read_line() == b"_"
        c.send("LINDEX", "nokey", "0")
        assert c.read_line() == b"_"
        c.send("BLPOP", "nokey", "0.01")
        assert c.read_line() == b"_"


# ---------------------------------------------------------------- blocking


def test_blocking_timeout_errors(r):
    r.rpush("l", "a", "b")
    assert err(r, "BLPOP", "l", "abc") == "timeout is not a float or out of range"
    assert err(r, "BLPOP", "l", "nan") == "timeout is not a float or out of range"
    assert err(r, "BLPOP", "l", "-1") == "timeout is negative"
    assert err(r, "BRPOP", "nokey", "inf") == "timeout is negative"
    assert err(r, "BLPOP", "nokey", "1e30") == "timeout is negative"
    assert err(r, "BLPOP", "nokey", "9223372036854775.9") == "timeout is negative"
    # a tiny negative timeout truncates to 0 ms, as in Redis 7.0
    assert raw(r, "BLPOP", "l", "-0.0001") == [b"l", b"a"]
    assert err(r, "BRPOPLPUSH", "l", "d", "abc") == "timeout is not a float or out of range"
    # BLMOVE and BLMPOP check their other arguments before the timeout
    assert err(r, "BLMOVE", "l", "d", "MIDDLE", "LEFT", "abc") == SYNTAX
    assert err(r, "BLMOVE", "l", "d", "LEFT", "LEFT", "abc") == "timeout is not a float or out of range"
    assert err(r, "BLMPOP", "abc", "1", "l", "MIDDLE") == SYNTAX
    assert err(r, "BLMPOP", "abc", "1", "l", "LEFT") == "timeout is not a float or out of range"
    assert err(r, "BLMPOP", "-1", "0", "l", "LEFT") == "numkeys should be greater than 0"
    assert r.lrange("l", 0, -1) == [b"b"]


def test_blocking_commands_serve_at_once(r):
    a, b = two_shard_keys("bs")
    r.rpush(b, "1", "2", "3", "4", "5")
    assert r.blpop([a, b], 0) == (b.encode(), b"1")
    assert r.brpop([a, b], 0) == (b.encode(), b"5")
    assert r.blmove(b, a, 0, "LEFT", "RIGHT") == b"2"
    assert r.brpoplpush(b, a, 0) == b"4"
    assert raw(r, "BLMPOP", "0", "2", "nokey", b, "RIGHT", "COUNT", "9") == [b.encode(), [b"3"]]
    assert r.exists(b) == 0
    assert r.lrange(a, 0, -1) == [b"4", b"2"]


def test_blocking_in_multi_returns_nil(ringkv):
    with ringkv.raw() as c:
        assert c.call("MULTI") == "OK"
        for cmd in (("BLPOP", "nokey", "0"), ("BRPOP", "nokey", "0"),
                    ("BLMOVE", "nokey", "x", "LEFT", "LEFT", "0"), ("BRPOPLPUSH", "nokey", "x", "0"),
                    ("BLMPOP", "0", "1", "nokey", "LEFT")):
            assert c.call(*cmd) == "QUEUED"
        c.send("EXEC")
        assert c.read_line() == b"*5"
        assert [c.read_line() for _ in range(5)] == [b"*-1", b"*-1", b"$-1", b"$-1", b"*-1"]


def test_blocking_timeout_returns_nil(r):
    t0 = time.monotonic()
    assert r.blpop("nokey", 0.1) is None
    assert r.brpop(["nokey", "other"], 0.1) is None
    assert raw(r, "BLMPOP", "0.1", "1", "nokey", "LEFT") is None
    assert time.monotonic() - t0 >= 0.25


def _run_blocked(ringkv, r, cmd, push):
    """Starts cmd on its own connection, lets it block, runs push(), returns
    cmd's reply. (CLIENT LIST does not yet show the command of a client
    waiting on keys of several shards, so this waits a fixed moment; a push
    that came early would be served at once, never lost.)"""
    client = ringkv.client(socket_timeout=10)
    result = []
    t = threading.Thread(target=lambda: result.append(client.execute_command(*cmd)))
    t.start()
    time.sleep(0.2)
    assert t.is_alive(), "the command did not block"
    push()
    t.join(10)
    client.close()
    assert result, "blocked command did not return"
    return result[0]


def test_blpop_woken_by_push_on_other_shard(ringkv, r):
    a, b = two_shard_keys("bw")
    reply = _run_blocked(ringkv, r, ("BLPOP", a, b, "5"), lambda: r.rpush(b, "v1", "v2"))
    assert reply == (b.encode(), b"v1")
    assert r.lrange(b, 0, -1) == [b"v2"]


def test_blmove_woken_and_moves_across_shards(ringkv, r):
    src, dst = two_shard_keys("bm")
    reply = _run_blocked(ringkv, r, ("BLMOVE", src, dst, "RIGHT", "LEFT", "5"),
                         lambda: r.rpush(src, "s1", "s2"))
    assert reply == b"s2"
    assert r.lrange(src, 0, -1) == [b"s1"]
    assert r.lrange(dst, 0, -1) == [b"s2"]


def test_brpoplpush_woken(ringkv, r):
    src, dst = two_shard_keys("bp")
    reply = _run_blocked(ringkv, r, ("BRPOPLPUSH", src, dst, "5"),
                         lambda: r.lpush(src, "v"))
    assert reply == b"v"
    assert r.exists(src) == 0
    assert r.lrange(dst, 0, -1) == [b"v"]


def test_blmpop_woken_with_count(ringkv, r):
    a, b = two_shard_keys("bmp")
    reply = _run_blocked(ringkv, r, ("BLMPOP", "5", "2", a, b, "LEFT", "COUNT", "10"),
                         lambda: r.rpush(b, "x", "y", "z"))
    assert reply == [b.encode(), [b"x", b"y", b"z"]]
    assert r.exists(b) == 0


# ---------------------------------------------------------------- encoding and keyspace


def test_object_encoding_is_quicklist_like_redis_7_0(r):
    # Redis 7.0.15 reports "quicklist" for every list, whatever its size.
    r.rpush("small", "a")
    assert r.object("encoding", "small") == b"quicklist"
    r.rpush("big", *[str(i) * 50 for i in range(500)])
    assert r.object("encoding", "big") == b"quicklist"
    r.rpush("huge", "x" * 100000)
    assert r.object("encoding", "huge") == b"quicklist"


@pytest.mark.parametrize("fill", ["1", "2", "3", "-1", "-5", "0"])
def test_node_sizes_do_not_change_contents(r, fill):
    """Small nodes exercise every node-splitting path; a model list checks
    the results. The threshold is restored afterwards."""
    old = r.config_get("list-max-listpack-size")["list-max-listpack-size"]
    r.config_set("list-max-listpack-size", fill)
    try:
        rng = random.Random(int(fill) + 100)
        model = []
        key = "model"
        for step in range(300):
            op = rng.randrange(9)
            v = rng.choice(["a", "b", "7", "-12", "x" * rng.randrange(1, 300)])
            if op <= 1 or not model:
                if rng.randrange(2):
                    r.lpush(key, v)
                    model.insert(0, v)
                else:
                    r.rpush(key, v)
                    model.append(v)
            elif op == 2:
                assert r.lpop(key) == model.pop(0).encode()
            elif op == 3:
                i = rng.randrange(len(model))
                r.lset(key, i, v)
                model[i] = v
            elif op == 4:
                pivot = rng.choice(model)
                where = rng.choice(["BEFORE", "AFTER"])
                r.linsert(key, where, pivot, v)
                i = model.index(pivot) + (where == "AFTER")
                model.insert(i, v)
            elif op == 5:
                target = rng.choice(model)
                n = rng.choice([0, 1, -1, 2])
                removed = r.lrem(key, n, target)
                seq = list(range(len(model))) if n >= 0 else list(range(len(model) - 1, -1, -1))
                drop = [i for i in seq if model[i] == target][: abs(n) if n else None]
                for i in sorted(drop, reverse=True):
                    del model[i]
                assert removed == len(drop)
            elif op == 6:
                start, end = rng.randrange(-5, 5), rng.randrange(-3, len(model) + 2)
                r.ltrim(key, start, end)
                s = start + len(model) if start < 0 else start
                e = end + len(model) if end < 0 else end
                s = max(s, 0)
                model = [] if s > e or s >= len(model) else model[s:min(e, len(model) - 1) + 1]
            elif op == 7:
                assert r.rpoplpush(key, key) == model[-1].encode()
                model.insert(0, model.pop())
            else:
                i = rng.randrange(-len(model), len(model))
                assert r.lindex(key, i) == model[i].encode()
            assert r.llen(key) == len(model)
        assert r.lrange(key, 0, -1) == [m.encode() for m in model]
        assert r.object("encoding", key) in (None, b"quicklist")
    finally:
        r.config_set("list-max-listpack-size", old)


def test_keyspace_commands_with_lists(r):
    a, b = two_shard_keys("ks")
    r.rpush(a, "1", "2", "3")
    assert r.type(a) == b"list"
    assert r.copy(a, b) is True
    r.rpush(a, "4")
    assert r.lrange(b, 0, -1) == [b"1", b"2", b"3"]  # the copy is deep
    assert r.rename(b, "renamed") is True
    assert r.lrange("renamed", 0, -1) == [b"1", b"2", b"3"]
    assert r.expire(a, 100) is True
    assert 0 < r.ttl(a) <= 100
    assert r.move("renamed", 1) is True
    r2 = redis.Redis(host=r.connection_pool.connection_kwargs["host"],
                     port=r.connection_pool.connection_kwargs["port"], db=1)
    assert r2.lrange("renamed", 0, -1) == [b"1", b"2", b"3"]
    r2.flushdb()
    r2.close()
    r.set("str", "x")
    found = set()
    cursor = 0
    while True:
        cursor, keys = r.scan(cursor, _type="list")
        found.update(keys)
        if cursor == 0:
            break
    assert found == {a.encode()}
    assert r.delete(a) == 1
    assert r.exists(a) == 0


def test_push_after_expiry_creates_a_fresh_list(r):
    r.rpush("l", "old")
    r.pexpire("l", 1)
    time.sleep(0.01)
    assert r.rpush("l", "new") == 1
    assert r.lrange("l", 0, -1) == [b"new"]
    assert r.ttl("l") == -1


def test_watch_sees_list_changes(ringkv, r):
    r.rpush("w", "a")
    c = ringkv.client()
    with c.pipeline() as p:
        p.watch("w")
        r.lpop("w")
        p.multi()
        p.rpush("w", "z")
        with pytest.raises(redis.WatchError):
            p.execute()
    c.close()
    assert r.exists("w") == 0


def test_command_key_specs(r):
    assert raw(r, "COMMAND", "GETKEYS", "LMPOP", "2", "a", "b", "LEFT") == [b"a", b"b"]
    assert raw(r, "COMMAND", "GETKEYS", "BLMPOP", "0", "1", "a", "LEFT") == [b"a"]
    assert raw(r, "COMMAND", "GETKEYS", "BLPOP", "a", "b", "0") == [b"a", b"b"]
    assert raw(r, "COMMAND", "GETKEYS", "LMOVE", "a", "b", "LEFT", "LEFT") == [b"a", b"b"]
    info = raw(r, "COMMAND", "INFO", "LMOVE")[0]
    assert info[1] == 5
    flags = [[f.lower() for f in spec[1]] for spec in info[8]]
    assert flags == [[b"rw", b"access", b"delete"], [b"rw", b"insert"]]
    info = raw(r, "COMMAND", "INFO", "BLMPOP")[0]
    assert b"movablekeys" in info[2] and b"blocking" in info[2]
    assert info[8][0][3] == [b"type", b"index", b"spec", [b"index", 2]]
    assert info[8][0][5] == [b"type", b"keynum", b"spec", [b"keynumidx", 0, b"firstkey", 1, b"keystep", 1]]
