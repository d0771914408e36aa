"""Set commands: replies, encodings and exact Redis 7.0 errors.

Uses the `r` fixture (redis-py client, RESP2, flushed before each test) and
`ringkv.raw()` for RESP3 shapes. The server runs with two shards; multi-key
tests place their keys on both (keys_on_shard) so the generic multi-key
executor is exercised as well as the local path.

Encodings: a set of integers in [0, 2^32-1] is "intset" (a bitmap) while its
size <= set-max-intset-entries, anything else is "hashtable" (Redis 7.0 has
no set listpack)."""
import pytest

from conftest import keys_on_shard, shard_of
from conftest import err, raw, WRONGTYPE, NOT_INT, SYNTAX


def enc(r, key):
    return r.object("encoding", key)


def members(*xs):
    return {str(x).encode() for x in xs}


def two_shards(prefix, n=2):
    """n keys on shard 0 and n on shard 1, interleaved: a0 b1 a0 b1 ..."""
    a, b = keys_on_shard(0, n, prefix), keys_on_shard(1, n, prefix)
    out = []
    for x, y in zip(a, b):
        out += [x, y]
    return out


@pytest.fixture
def small_limits(r):
    """Lowers set-max-intset-entries for the test and restores it after."""
    old = r.config_get("set-max-intset-entries")["set-max-intset-entries"]
    r.config_set("set-max-intset-entries", 4)
    yield
    r.config_set("set-max-intset-entries", old)


# ---------------------------------------------------------------- SADD / SREM / SCARD


def test_sadd_srem_scard(r):
    assert r.sadd("s", "a", "b", "a") == 2
    assert r.sadd("s", "b", "c") == 1
    assert r.scard("s") == 3
    assert r.smembers("s") == members("a", "b", "c")
    assert r.srem("s", "a", "zz", "a") == 1
    assert r.srem("nokey", "a") == 0
    assert r.scard("nokey") == 0
    assert r.srem("s", "b", "c") == 2
    assert r.exists("s") == 0  # an emptied set is deleted
    assert r.type("s") == b"none"


def test_sadd_binary_and_empty_members(r):
    big = b"x" * 1000
    assert r.sadd("s", b"", b"\x00\xff", big) == 3
    assert r.sismember("s", b"") and r.sismember("s", big)
    assert r.smembers("s") == {b"", b"\x00\xff", big}
    assert r.srem("s", big) == 1
    assert r.sismember("s", big) is False


def test_arity_errors(r):
    assert err(r, "SADD", "s") == "wrong number of arguments for 'sadd' command"
    assert err(r, "SREM", "s") == "wrong number of arguments for 'srem' command"
    assert err(r, "SCARD") == "wrong number of arguments for 'scard' command"
    assert err(r, "SISMEMBER", "s") == "wrong number of arguments for 'sismember' command"
    assert err(r, "SMISMEMBER", "s") == "wrong number of arguments for 'smismember' command"
    assert err(r, "SMOVE", "a", "b") == "wrong number of arguments for 'smove' command"
    assert err(r, "SINTERCARD", "1") == "wrong number of arguments for 'sintercard' command"
    assert err(r, "SINTERSTORE", "d") == "wrong number of arguments for 'sinterstore' command"
    assert err(r, "SSCAN", "s") == "wrong number of arguments for 'sscan' command"


def test_wrongtype(r):
    r.set("str", "x")
    r.sadd("s", "a")
    for args in (
        ("SADD", "str", "a"), ("SREM", "str", "a"), ("SCARD", "str"), ("SMEMBERS", "str"),
        ("SISMEMBER", "str", "a"), ("SMISMEMBER", "str", "a"), ("SPOP", "str"), ("SPOP", "str", 2),
        ("SRANDMEMBER", "str"), ("SRANDMEMBER", "str", 2), ("SMOVE", "str", "s", "a"),
        ("SMOVE", "s", "str", "a"), ("SINTER", "s", "str"), ("SINTER", "nokey", "str"),
        ("SINTERCARD", 2, "nokey", "str"), ("SINTERSTORE", "d", "s", "str"), ("SUNION", "s", "str"),
        ("SUNIONSTORE", "d", "str"), ("SDIFF", "s", "str"), ("SDIFF", "nokey", "str"),
        ("SDIFFSTORE", "d", "s", "str"), ("SSCAN", "str", 0),
    ):
        assert err(r, *args) == WRONGTYPE, args
    assert r.get("str") == b"x"
    assert r.exists("d") == 0
    # a store command overwrites a destination of another type
    assert r.sunionstore("str", "s") == 1
    assert r.type("str") == b"set"


# ---------------------------------------------------------------- membership


def test_sismember_smismember(r):
    r.sadd("s", "a", 1, 2)
    assert r.sismember("s", "a") is True
    assert r.sismember("s", "1") is True
    assert r.sismember("s", "01") is False  # not canonical: a different member
    assert r.sismember("nokey", "a") is False
    assert raw(r, "SMISMEMBER", "s", "a", "x", "2") == [1, 0, 1]
    assert raw(r, "SMISMEMBER", "nokey", "a", "b") == [0, 0]
    r.sadd("i", 7, 4294967295)
    assert raw(r, "SMISMEMBER", "i", "7", "4294967295", "-7", "4294967296", "x") == [1, 1, 0, 0, 0]


def test_smembers(r):
    assert r.smembers("nokey") == set()
    r.sadd("i", 30, 10, 20)
    # intsets are answered in ascending order, as Redis's intset
    assert raw(r, "SMEMBERS", "i") == [b"10", b"20", b"30"]


# ---------------------------------------------------------------- encodings


def test_encoding_intset_and_conversions(r, small_limits):
    r.sadd("i", 1, 2, 3)
    assert enc(r, "i") == b"intset"
    r.sadd("i", 0, 4294967295)
    assert r.scard("i") == 5
    # 5 > set-max-intset-entries (4)
    assert enc(r, "i") == b"hashtable"
    assert r.smembers("i") == members(0, 1, 2, 3, 4294967295)

    r.sadd("j", 1, 2, 3, 4)
    assert enc(r, "j") == b"intset"
    r.sadd("j", "x")
    assert enc(r, "j") == b"hashtable"
    r.srem("j", "x")
    assert enc(r, "j") == b"hashtable"  # never converted back

    for outside in ("007", "1.5", " 1", "+1", "x"):
        r.delete("k")
        r.sadd("k", 1)
        assert enc(r, "k") == b"intset"
        r.sadd("k", outside)
        assert enc(r, "k") == b"hashtable", outside
        assert r.sismember("k", outside) and r.sismember("k", "1")

    r.sadd("h", "a")
    assert enc(r, "h") == b"hashtable"  # Redis 7.0: no listpack for sets


def test_encoding_bitmap_range(r):
    """ringkv-specific (documented deviation): the intset encoding is a 32-bit
    bitmap, so integers outside [0, 2^32-1] make the set a hashtable, where a
    Redis intset would hold any int64."""
    r.sadd("k", 0, 4294967295)
    assert enc(r, "k") == b"intset"
    for outside in ("-1", "4294967296", "-9223372036854775808"):
        r.delete("k")
        r.sadd("k", 1)
        r.sadd("k", outside)
        assert enc(r, "k") == b"hashtable", outside
        assert r.smembers("k") == {b"1", outside.encode()}


def test_encoding_zero_limit(r):
    old = r.config_get("set-max-intset-entries")["set-max-intset-entries"]
    try:
        r.config_set("set-max-intset-entries", 0)
        r.sadd("z", 1)
        assert enc(r, "z") == b"hashtable"
        assert r.smembers("z") == {b"1"}
    finally:
        r.config_set("set-max-intset-entries", old)


def test_store_results_pick_encoding(r, small_limits):
    r.sadd("h", "1", "2", "x")
    r.srem("h", "x")
    assert enc(r, "h") == b"hashtable"
    # a result made only of small integers is an intset again
    assert r.sunionstore("d", "h") == 2
    assert enc(r, "d") == b"intset"
    r.sadd("a", 1, 2, 3, 4)
    r.sadd("b", 5, 6)
    assert r.sunionstore("d", "a", "b") == 6
    assert enc(r, "d") == b"hashtable"
    assert r.sinterstore("d", "a", "a") == 4
    assert enc(r, "d") == b"intset"


# ---------------------------------------------------------------- SMOVE


def test_smove(r):
    r.sadd("src", "a", "b", 1)
    assert r.smove("src", "dst", "a") is True
    assert r.smembers("dst") == {b"a"}
    assert enc(r, "dst") == b"hashtable"
    assert r.smove("src", "dst", "a") is False
    assert r.smove("src", "src", "b") is True  # same key: membership only
    assert r.smove("src", "src", "zz") is False
    assert r.smove("src", "ints", "1") is True
    assert enc(r, "ints") == b"intset"
    assert r.smove("src", "dst", "b") is True
    assert r.exists("src") == 0  # emptied source deleted
    assert r.smembers("dst") == {b"a", b"b"}
    r.sadd("src", "a")
    assert r.smove("src", "dst", "a") is True  # already in the destination
    assert r.smembers("dst") == {b"a", b"b"}
    assert r.exists("src") == 0


def test_smove_missing_source_and_types(r):
    r.set("str", "x")
    assert r.smove("nokey", "str", "a") is False  # source checked first
    r.sadd("s", "a")
    assert err(r, "SMOVE", "s", "str", "zz") == WRONGTYPE
    assert r.smembers("s") == {b"a"}


def test_smove_across_shards(r):
    a, b = two_shards("mv", 1)
    assert shard_of(a) != shard_of(b)
    r.sadd(a, "x", "y")
    assert r.smove(a, b, "x") is True
    assert r.smembers(a) == {b"y"} and r.smembers(b) == {b"x"}
    assert r.smove(a, b, "y") is True
    assert r.exists(a) == 0
    assert r.smembers(b) == {b"x", b"y"}


# ---------------------------------------------------------------- SPOP / SRANDMEMBER


def test_spop_single(r):
    assert r.spop("nokey") is None
    r.sadd("s", "a", "b", "c")
    got = {r.spop("s") for _ in range(3)}
    assert got == {b"a", b"b", b"c"}
    assert r.exists("s") == 0
    r.sadd("i", 5)
    assert r.spop("i") == b"5"
    assert r.exists("i") == 0


def test_spop_count(r):
    assert raw(r, "SPOP", "nokey", 3) == []
    for key, items in (("h", ["a", "b", "c", "d", "e"]), ("i", [1, 2, 3, 4, 5])):
        r.sadd(key, *items)
        assert raw(r, "SPOP", key, 0) == []
        popped = raw(r, "SPOP", key, 2)
        assert len(popped) == 2 and len(set(popped)) == 2
        rest = r.smembers(key)
        assert len(rest) == 3 and not rest & set(popped)
        assert set(popped) | rest == members(*items)
        assert set(raw(r, "SPOP", key, 10)) == rest
        assert r.exists(key) == 0
    r.sadd("s", "a")
    assert err(r, "SPOP", "s", -1) == "value is out of range, must be positive"
    assert err(r, "SPOP", "s", "x") == "value is out of range, must be positive"
    assert err(r, "SPOP", "s", 1, 2) == SYNTAX
    assert err(r, "SPOP", "nokey", -1) == "value is out of range, must be positive"


def test_srandmember(r):
    assert r.srandmember("nokey") is None
    assert raw(r, "SRANDMEMBER", "nokey", 5) == []
    assert raw(r, "SRANDMEMBER", "nokey", -5) == []
    for key, items in (("h", ["m%d" % i for i in range(50)]), ("i", list(range(50)))):
        r.sadd(key, *items)
        want = members(*items)
        assert r.srandmember(key) in want
        assert raw(r, "SRANDMEMBER", key, 0) == []
        for count in (1, 5, 20, 40, 49):  # both the draw and the shuffle paths
            got = raw(r, "SRANDMEMBER", key, count)
            assert len(got) == count and len(set(got)) == count and set(got) <= want
        assert set(raw(r, "SRANDMEMBER", key, 100)) == want
        got = raw(r, "SRANDMEMBER", key, -200)
        assert len(got) == 200 and set(got) <= want
        assert r.scard(key) == 50  # nothing removed
    assert err(r, "SRANDMEMBER", "h", "x") == NOT_INT
    assert err(r, "SRANDMEMBER", "h", "9223372036854775808") == NOT_INT
    assert err(r, "SRANDMEMBER", "h", "-9223372036854775808") == (
        "value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    assert err(r, "SRANDMEMBER", "h", 1, 2) == SYNTAX


# ---------------------------------------------------------------- SINTER / SUNION / SDIFF


@pytest.mark.parametrize("kind", ["ints", "strings", "mixed"])
def test_set_algebra(r, kind):
    a, b, c, d = two_shards("alg")
    if kind == "ints":
        sa, sb, sc = [1, 2, 3, 4], [3, 4, 5], [4, 5, 6]
    elif kind == "strings":
        sa, sb, sc = ["a", "b", "c", "d"], ["c", "d", "e"], ["d", "e", "f"]
    else:
        sa, sb, sc = ["a", 2, "c", 4], [4, "c", 5], [4, 5, "f"]
    r.sadd(a, *sa)
    r.sadd(b, *sb)
    r.sadd(c, *sc)
    A, B, C = members(*sa), members(*sb), members(*sc)
    assert r.sinter(a, b) == A & B
    assert r.sinter(a, b, c) == A & B & C
    assert r.sinter(a, b, "nokey") == set()
    assert r.sinter(a) == A
    assert r.sunion(a, b, c) == A | B | C
    assert r.sunion(a, "nokey") == A
    assert r.sunion("nokey", "nokey2") == set()
    assert r.sdiff(a, b) == A - B
    assert r.sdiff(a, b, c) == A - B - C
    assert r.sdiff(a, "nokey") == A
    assert r.sdiff("nokey", a) == set()
    assert r.sdiff(a, a) == set()

    assert r.sinterstore(d, a, b) == len(A & B)
    assert r.smembers(d) == A & B
    assert r.sunionstore(d, a, b, c) == len(A | B | C)
    assert r.smembers(d) == A | B | C
    assert r.sdiffstore(d, a, b) == len(A - B)
    assert r.smembers(d) == A - B
    # the destination may be one of the sources
    assert r.sunionstore(a, a, c) == len(A | C)
    assert r.smembers(a) == A | C


def test_store_empty_result_deletes_destination(r):
    d, a = two_shards("st", 1)
    r.sadd(a, "x")
    r.sadd(d, "old")
    r.expire(d, 100)
    assert r.sinterstore(d, a, "nokey") == 0
    assert r.exists(d) == 0
    r.set(d, "string")
    assert r.sdiffstore(d, a, a) == 0
    assert r.exists(d) == 0
    assert r.sunionstore(d, "nokey") == 0
    assert r.exists(d) == 0


def test_store_clears_ttl(r):
    r.sadd("a", "x")
    r.sadd("d", "y")
    r.expire("d", 100)
    assert r.sunionstore("d", "a") == 1
    assert r.ttl("d") == -1


def test_sintercard(r):
    a, b, c, _ = two_shards("ic")
    r.sadd(a, *range(10))
    r.sadd(b, *range(5, 20))
    r.sadd(c, "x", *range(0, 20, 2))
    assert raw(r, "SINTERCARD", 1, a) == 10
    assert raw(r, "SINTERCARD", 2, a, b) == 5
    assert raw(r, "SINTERCARD", 3, a, b, c) == 2  # 6, 8
    assert raw(r, "SINTERCARD", 2, a, b, "LIMIT", 3) == 3
    assert raw(r, "SINTERCARD", 2, a, b, "limit", 0) == 5
    assert raw(r, "SINTERCARD", 3, a, b, c, "LIMIT", 1) == 1
    assert raw(r, "SINTERCARD", 2, a, b, "LIMIT", 100) == 5
    assert raw(r, "SINTERCARD", 2, a, "nokey") == 0
    assert err(r, "SINTERCARD", 0, a) == "numkeys should be greater than 0"
    assert err(r, "SINTERCARD", -1, a) == "numkeys should be greater than 0"
    assert err(r, "SINTERCARD", "x", a) == "numkeys should be greater than 0"
    assert err(r, "SINTERCARD", 3, a, b) == "Number of keys can't be greater than number of args"
    assert err(r, "SINTERCARD", 1, a, "LIMIT", -1) == "LIMIT can't be negative"
    assert err(r, "SINTERCARD", 1, a, "LIMIT", "x") == "LIMIT can't be negative"
    assert err(r, "SINTERCARD", 1, a, "LIMIT") == SYNTAX
    assert err(r, "SINTERCARD", 1, a, "foo", 1) == SYNTAX


def test_large_sets_across_shards(r):
    a, b = two_shards("big", 1)
    r.sadd(a, *range(0, 3000))
    r.sadd(b, *["m%d" % i for i in range(1000)], *range(0, 3000, 3))
    assert enc(r, a) == b"hashtable"  # 3000 > 512
    assert r.scard(b) == 2000
    assert len(r.sinter(a, b)) == 1000
    assert raw(r, "SINTERCARD", 2, a, b, "LIMIT", 10) == 10
    assert r.sdiffstore("{x}d", a, b) == 2000
    assert r.sunionstore("{x}u", a, b) == 4000


# ---------------------------------------------------------------- SSCAN


def test_sscan_hashtable_full_iteration(r):
    items = {("m%d" % i).encode() for i in range(300)}
    r.sadd("s", *items)
    seen, cursor, calls = set(), 0, 0
    while True:
        cursor, batch = r.sscan("s", cursor, count=20)
        seen |= set(batch)
        calls += 1
        if cursor == 0:
            break
    assert seen == items
    assert calls > 1
    cursor, batch = 0, []
    while True:
        cursor, part = r.sscan("s", cursor, match="m1*", count=50)
        batch += part
        if cursor == 0:
            break
    assert set(batch) == {x for x in items if x.startswith(b"m1")}


def test_sscan_intset_whole(r):
    r.sadd("i", 1, 2, 3, 10, 11)
    assert raw(r, "SSCAN", "i", 0) == [b"0", [b"1", b"2", b"3", b"10", b"11"]]
    assert raw(r, "SSCAN", "i", 5, "MATCH", "1*", "COUNT", 1) == [b"0", [b"1", b"10", b"11"]]


def test_sscan_errors(r):
    r.sadd("s", "a")
    assert raw(r, "SSCAN", "nokey", 0) == [b"0", []]
    assert raw(r, "SSCAN", "nokey", 0, "COUNT", 0) == [b"0", []]  # key checked before options
    assert err(r, "SSCAN", "s", "x") == "invalid cursor"
    assert err(r, "SSCAN", "s", "18446744073709551616") == "invalid cursor"
    assert err(r, "SSCAN", "s", 0, "COUNT", 0) == SYNTAX
    assert err(r, "SSCAN", "s", 0, "COUNT", "x") == NOT_INT
    assert err(r, "SSCAN", "s", 0, "MATCH") == SYNTAX
    assert err(r, "SSCAN", "s", 0, "TYPE", "string") == SYNTAX
    assert err(r, "SSCAN", "s", 0, "foo", "bar") == SYNTAX


# ---------------------------------------------------------------- RESP3


def test_resp3_shapes(ringkv, r):
    r.sadd("s", "a")
    r.sadd("i", 1, 2)
    with ringkv.raw() as c:
        c.call("HELLO", "3")
        c.send("SMEMBERS", "s")
        assert c.read_line() == b"~1"
        assert c.read() == b"a"
        for args in (("SMEMBERS", "nokey"), ("SINTER", "s", "i"), ("SPOP", "nokey", 1),
                     ("SPOP", "i", 0), ("SINTER", "nokey", "s")):
            c.send(*args)
            assert c.read_line() == b"~0", args
        c.send("SUNION", "s", "i")
        assert c.read_line() == b"~3"
        assert {c.read() for _ in range(3)} == {b"a", b"1", b"2"}
        c.send("SDIFF", "i", "s")
        assert c.read_line() == b"~2"
        assert [c.read(), c.read()] == [b"1", b"2"]
        c.send("SPOP", "nokey")
        assert c.read_line() == b"_"
        c.send("SRANDMEMBER", "nokey")
        assert c.read_line() == b"_"
        c.send("SRANDMEMBER", "i", 1)
        assert c.read_line() == b"*1"
        assert c.read() in (b"1", b"2")
        assert c.call("SMISMEMBER", "i", "1", "x") == [1, 0]
        c.send("SISMEMBER", "i", "1")
        assert c.read_line() == b":1"
        assert c.call("SSCAN", "i", 0) == [b"0", [b"1", b"2"]]
        c.send("SPOP", "i", 5)
        assert c.read_line() == b"~2"
        assert {c.read(), c.read()} == {b"1", b"2"}


# ---------------------------------------------------------------- keyspace integration


def test_keyspace_commands(r):
    src, other = two_shards("ks", 1)
    r.sadd(src, "a", "b")
    assert r.type(src) == b"set"
    assert r.copy(src, other) is True
    assert r.smembers(other) == {b"a", b"b"}
    r.sadd(other, "c")
    assert r.scard(src) == 2  # a deep copy
    assert r.rename(other, "renamed") is True
    assert r.smembers("renamed") == {b"a", b"b", b"c"}
    r.sadd("ints", 1, 2)
    assert r.copy("ints", "ints2") is True
    assert enc(r, "ints2") == b"intset"
    assert r.smembers("ints2") == {b"1", b"2"}
    assert r.move("ints", 1) is True
    r.execute_command("SELECT", 1)
    try:
        assert r.smembers("ints") == {b"1", b"2"}
    finally:
        r.execute_command("SELECT", 0)
    assert r.expire(src, 100) is True
    assert 0 < r.ttl(src) <= 100
    r.set("str", "x")
    cursor, found = 0, set()
    while True:
        cursor, keys = r.scan(cursor, _type="set")
        found |= set(keys)
        if cursor == 0:
            break
    assert found == {src.encode(), b"renamed", b"ints2"}
    assert r.delete(src, "renamed") == 2
    assert r.exists(src) == 0


def test_multi_exec(r):
    p = r.pipeline(transaction=True)
    p.sadd("{t}a", 1, 2).sadd("{t}b", 2, 3).sinter("{t}a", "{t}b").spop("{t}a", 5)
    assert p.execute() == [2, 2, {b"2"}, [b"1", b"2"]]
