"""String and bitmap commands: replies, encodings and exact Redis 7 errors.

Uses the `r` fixture (redis-py client, RESP2, flushed before each test).
The server runs with several shards, so the multi-key tests spread their keys
over every shard (plain names hash to different slots)."""
import time

import pytest
import redis

from conftest import err, raw, WRONGTYPE, NOT_INT, NOT_FLOAT, SYNTAX

BIT_OFFSET = "bit offset is not an integer or out of range"
BF_TYPE = ("Invalid bitfield type. Use something like i16 u8. "
           "Note that u64 is not supported but i64 is.")
MANY = 40  # enough keys that every shard owns several


def make_list(r, key):
    """Creates a non-string key for the WRONGTYPE checks (skips the rest of
    the test while the server has no list type yet)."""
    try:
        r.rpush(key, "a")
    except redis.ResponseError as e:
        if "unknown command" in str(e):
            pytest.skip("server has no list type yet")
        raise


def enc(r, key):
    return r.object("encoding", key)


# ---------------------------------------------------------------- GET / SET


def test_get_set_basic(r):
    assert r.get("k") is None
    assert r.set("k", "v") is True
    assert r.get("k") == b"v"
    assert r.set("k", "") is True
    assert r.get("k") == b""
    binary = bytes(range(256))
    r.set("bin", binary)
    assert r.get("bin") == binary


def test_get_wrongtype(r):
    make_list(r, "l")
    assert err(r, "GET", "l") == WRONGTYPE


def test_set_overwrites_other_types_and_clears_ttl(r):
    make_list(r, "l")
    assert r.set("l", "v")
    assert r.type("l") == b"string"
    r.set("t", "v", ex=100)
    assert r.ttl("t") > 0
    r.set("t", "w")
    assert r.ttl("t") == -1


def test_set_encodings(r):
    r.set("i", "123")
    assert enc(r, "i") == b"int"
    r.set("neg", "-9223372036854775808")
    assert enc(r, "neg") == b"int"
    r.set("big", "9223372036854775808")
    assert enc(r, "big") == b"embstr"
    r.set("lead", "0123")
    assert enc(r, "lead") == b"embstr"
    r.set("e44", "x" * 44)
    assert enc(r, "e44") == b"embstr"
    r.set("r45", "x" * 45)
    assert enc(r, "r45") == b"raw"
    assert r.get("i") == b"123"


def test_set_nx_xx(r):
    assert r.set("k", "1", nx=True) is True
    assert r.set("k", "2", nx=True) is None
    assert r.get("k") == b"1"
    assert r.set("k", "3", xx=True) is True
    assert r.get("k") == b"3"
    assert r.set("missing", "x", xx=True) is None
    assert r.exists("missing") == 0
    assert err(r, "SET", "k", "v", "NX", "XX") == SYNTAX
    assert err(r, "SET", "k", "v", "XX", "NX") == SYNTAX


def test_set_get_option(r):
    assert raw(r, "SET", "k", "a", "GET") is None
    assert raw(r, "SET", "k", "b", "GET") == b"a"
    assert r.get("k") == b"b"
    # NX with GET: old value returned, nothing written.
    assert raw(r, "SET", "k", "c", "NX", "GET") == b"b"
    assert r.get("k") == b"b"
    # XX with GET on a missing key: nil and no write.
    assert raw(r, "SET", "nokey", "c", "XX", "GET") is None
    assert r.exists("nokey") == 0
    make_list(r, "l")
    assert err(r, "SET", "l", "v", "GET") == WRONGTYPE
    assert r.type("l") == b"list"


def test_set_expire_options(r):
    assert r.set("k", "v", ex=100)
    assert 95 <= r.ttl("k") <= 100
    assert r.set("k", "v", px=100000)
    assert 95000 <= r.pttl("k") <= 100000
    future = int(time.time()) + 1000
    assert raw(r, "SET", "k", "v", "EXAT", future)
    assert 990 <= r.ttl("k") <= 1000
    assert raw(r, "SET", "k", "v", "PXAT", future * 1000)
    assert 990 <= r.ttl("k") <= 1000
    # KEEPTTL keeps the previous TTL.
    assert raw(r, "SET", "k", "w", "KEEPTTL")
    assert r.ttl("k") > 900
    assert r.get("k") == b"w"
    # The same unit twice: the last one wins.
    assert raw(r, "SET", "k", "v", "EX", 10, "EX", 2000)
    assert r.ttl("k") > 1000


def test_set_expire_errors(r):
    for unit in ("EX", "PX", "EXAT", "PXAT"):
        for bad in ("0", "-1"):
            assert err(r, "SET", "k", "v", unit, bad) == "invalid expire time in 'set' command"
        assert err(r, "SET", "k", "v", unit, "abc") == NOT_INT
        assert err(r, "SET", "k", "v", unit) == SYNTAX
    assert err(r, "SET", "k", "v", "EX", "9223372036854775") == "invalid expire time in 'set' command"
    assert err(r, "SET", "k", "v", "PX", "9223372036854775807") == "invalid expire time in 'set' command"
    assert r.exists("k") == 0
    for combo in (("EX", 1, "PX", 1000), ("EX", 1, "KEEPTTL"), ("KEEPTTL", "EX", 1),
                  ("PXAT", 1, "EXAT", 1), ("FOO",), ("PERSIST",)):
        assert err(r, "SET", "k", "v", *combo) == SYNTAX
    assert r.exists("k") == 0


def test_set_expire_in_the_past_removes_key(r):
    r.set("k", "old")
    assert raw(r, "SET", "k", "v", "EXAT", 1) == b"OK"
    assert r.exists("k") == 0
    assert raw(r, "SET", "k2", "v", "PXAT", 1) == b"OK"
    assert r.get("k2") is None
    assert raw(r, "SET", "k3", "v", "PXAT", 1, "GET") is None
    assert r.exists("k3") == 0


def test_set_short_expire_expires(r):
    r.set("k", "v", px=50)
    time.sleep(0.15)
    assert r.get("k") is None


def test_set_wrong_arity(r):
    assert err(r, "SET", "k") == "wrong number of arguments for 'set' command"
    assert err(r, "GET") == "wrong number of arguments for 'get' command"


# ---------------------------------------------------------- SETNX / SETEX


def test_setnx(r):
    assert r.setnx("k", "1") is True
    assert r.setnx("k", "2") is False
    assert r.get("k") == b"1"
    make_list(r, "l")
    assert r.setnx("l", "x") is False
    r.set("n", "7")
    assert enc(r, "n") == b"int"


def test_setex_psetex(r):
    assert r.setex("k", 100, "v")
    assert 95 <= r.ttl("k") <= 100
    assert r.get("k") == b"v"
    assert r.psetex("p", 100000, "v")
    assert 95000 <= r.pttl("p") <= 100000
    assert err(r, "SETEX", "k", "0", "v") == "invalid expire time in 'setex' command"
    assert err(r, "SETEX", "k", "-5", "v") == "invalid expire time in 'setex' command"
    assert err(r, "SETEX", "k", "x", "v") == NOT_INT
    assert err(r, "PSETEX", "k", "0", "v") == "invalid expire time in 'psetex' command"
    assert err(r, "PSETEX", "k", "1.5", "v") == NOT_INT
    assert err(r, "SETEX", "k", "10") == "wrong number of arguments for 'setex' command"
    make_list(r, "l")
    assert r.setex("l", 10, "v")  # overwrites any type
    assert r.get("l") == b"v"


# ------------------------------------------------------- GETEX / GETDEL / GETSET


def test_getex(r):
    assert r.execute_command("GETEX", "nokey") is None
    assert r.execute_command("GETEX", "nokey", "EX", "0") is None  # missing key wins
    r.set("k", "v")
    assert r.execute_command("GETEX", "k") == b"v"
    assert r.ttl("k") == -1
    assert r.execute_command("GETEX", "k", "EX", 100) == b"v"
    assert 95 <= r.ttl("k") <= 100
    assert r.execute_command("GETEX", "k", "PX", 200000) == b"v"
    assert r.ttl("k") > 150
    assert r.execute_command("GETEX", "k", "EXAT", int(time.time()) + 500) == b"v"
    assert 400 < r.ttl("k") <= 500
    assert r.execute_command("GETEX", "k", "PERSIST") == b"v"
    assert r.ttl("k") == -1
    assert r.execute_command("GETEX", "k", "PXAT", 1) == b"v"
    assert r.exists("k") == 0


def test_getex_errors(r):
    r.set("k", "v")
    assert err(r, "GETEX", "k", "EX", "0") == "invalid expire time in 'getex' command"
    assert err(r, "GETEX", "k", "PX", "-1") == "invalid expire time in 'getex' command"
    assert err(r, "GETEX", "k", "EX", "x") == NOT_INT
    assert err(r, "GETEX", "k", "PERSIST", "EX", "10") == SYNTAX
    assert err(r, "GETEX", "k", "EX", "10", "PX", "10") == SYNTAX
    assert err(r, "GETEX", "k", "KEEPTTL") == SYNTAX
    assert err(r, "GETEX", "k", "NX") == SYNTAX
    assert err(r, "GETEX", "k", "EX") == SYNTAX
    assert err(r, "GETEX", "nokey", "FOO") == SYNTAX
    make_list(r, "l")
    assert err(r, "GETEX", "l") == WRONGTYPE
    assert r.ttl("k") == -1


def test_getdel(r):
    assert r.execute_command("GETDEL", "nokey") is None
    r.set("k", "v", ex=100)
    assert r.execute_command("GETDEL", "k") == b"v"
    assert r.exists("k") == 0
    make_list(r, "l")
    assert err(r, "GETDEL", "l") == WRONGTYPE
    assert r.exists("l") == 1


def test_getset(r):
    assert r.getset("k", "a") is None
    assert r.getset("k", "b") == b"a"
    assert r.get("k") == b"b"
    r.set("t", "1", ex=100)
    assert r.getset("t", "22") == b"1"
    assert r.ttl("t") == -1
    assert enc(r, "t") == b"int"
    make_list(r, "l")
    assert err(r, "GETSET", "l", "x") == WRONGTYPE


# ----------------------------------------------------------- MGET / MSET


def test_mget_mset_single_and_many_shards(r):
    assert r.mset({"a": "1", "b": "2"}) is True
    assert r.mget("a", "b", "nokey") == [b"1", b"2", None]
    mapping = {f"key:{i}": f"val:{i}" for i in range(MANY)}
    assert r.mset(mapping) is True
    keys = list(mapping)
    assert r.mget(keys) == [v.encode() for v in mapping.values()]
    # Order follows the request, with duplicates and missing keys in place.
    ask = [keys[5], "missing1", keys[0], keys[5], "missing2", keys[MANY - 1]]
    assert r.mget(ask) == [b"val:5", None, b"val:0", b"val:5", None, f"val:{MANY - 1}".encode()]


def test_mget_non_string_is_nil(r):
    make_list(r, "l")
    r.set("s", "v")
    assert r.mget("l", "s", "x") == [None, b"v", None]


def test_mset_semantics(r):
    r.set("a", "old", ex=100)
    make_list(r, "l")
    assert r.mset({"a": "new", "l": "str", "n": "42"})
    assert r.get("a") == b"new"
    assert r.ttl("a") == -1
    assert r.type("l") == b"string"
    assert enc(r, "n") == b"int"
    # The last of duplicated keys wins.
    assert raw(r, "MSET", "d", "1", "d", "2") == b"OK"
    assert r.get("d") == b"2"


def test_mset_wrong_arity(r):
    assert err(r, "MSET", "a") == "wrong number of arguments for 'mset' command"
    assert err(r, "MSET", "a", "1", "b") == "wrong number of arguments for 'mset' command"
    assert err(r, "MSETNX", "a", "1", "b") == "wrong number of arguments for 'msetnx' command"
    assert err(r, "MGET") == "wrong number of arguments for 'mget' command"
    assert r.exists("a") == 0


def test_msetnx_across_shards(r):
    mapping = {f"nx:{i}": str(i) for i in range(MANY)}
    assert r.msetnx(mapping) is True
    assert r.mget(list(mapping)) == [str(i).encode() for i in range(MANY)]
    # One existing key anywhere blocks every write.
    fresh = {f"fresh:{i}": "x" for i in range(MANY)}
    fresh["nx:17"] = "clash"
    assert r.msetnx(fresh) is False
    assert r.get("nx:17") == b"17"
    assert r.exists(*[k for k in fresh if k.startswith("fresh:")]) == 0
    # An existing key of another type counts as existing too.
    make_list(r, "list")
    assert r.msetnx({"fresh:1": "1", "list": "2"}) is False
    assert r.exists("fresh:1") == 0
    assert r.execute_command("MSETNX", "dup", "1", "dup", "2") == 1
    assert r.get("dup") == b"2"


# ----------------------------------------------------------- APPEND / STRLEN


def test_append(r):
    assert r.append("k", "abc") == 3
    assert enc(r, "k") == b"embstr"
    assert r.append("k", "def") == 6
    assert r.get("k") == b"abcdef"
    assert enc(r, "k") == b"raw"
    assert r.append("n", "123") == 3
    assert enc(r, "n") == b"int"
    assert r.append("n", "4") == 4
    assert r.get("n") == b"1234"
    assert enc(r, "n") == b"raw"
    r.set("t", "x", ex=100)
    r.append("t", "y")
    assert r.ttl("t") > 0
    assert r.append("t", "") == 2
    make_list(r, "l")
    assert err(r, "APPEND", "l", "x") == WRONGTYPE


def test_append_grows_many_times(r):
    for i in range(200):
        r.append("k", "0123456789")
    assert r.strlen("k") == 2000
    assert r.get("k") == b"0123456789" * 200


def test_strlen(r):
    assert r.strlen("nokey") == 0
    r.set("k", "hello")
    assert r.strlen("k") == 5
    r.set("n", "-12345")
    assert r.strlen("n") == 6
    r.set("e", "")
    assert r.strlen("e") == 0
    make_list(r, "l")
    assert err(r, "STRLEN", "l") == WRONGTYPE


# ---------------------------------------------------------------- counters


def test_incr_decr(r):
    assert r.incr("k") == 1
    assert enc(r, "k") == b"int"
    assert r.incr("k") == 2
    assert r.decr("k") == 1
    assert r.decr("new") == -1
    assert r.incrby("k", 10) == 11
    assert r.decrby("k", 20) == -9
    assert r.incrby("k", -1) == -10
    r.set("s", "  5")
    assert err(r, "INCR", "s") == NOT_INT
    r.set("s", "5.0")
    assert err(r, "INCR", "s") == NOT_INT
    r.set("s", "abc")
    assert err(r, "DECR", "s") == NOT_INT
    r.set("big", "x" * 100)
    assert err(r, "INCR", "big") == NOT_INT
    assert err(r, "INCRBY", "k", "1.5") == NOT_INT
    assert err(r, "INCRBY", "k", "abc") == NOT_INT
    assert err(r, "DECRBY", "k", "") == NOT_INT
    make_list(r, "l")
    assert err(r, "INCR", "l") == WRONGTYPE


def test_incr_on_text_digits_and_ttl(r):
    r.set("k", "10", ex=100)
    assert r.incr("k") == 11
    assert r.ttl("k") > 0
    r.set("e", "x" * 10)
    r.set("e", "41")
    r.append("e", "")  # still "41"
    assert r.incr("e") == 42
    assert enc(r, "e") == b"int"


def test_incr_overflow(r):
    r.set("k", "9223372036854775807")
    assert err(r, "INCR", "k") == "increment or decrement would overflow"
    assert err(r, "INCRBY", "k", "1") == "increment or decrement would overflow"
    assert r.get("k") == b"9223372036854775807"
    r.set("m", "-9223372036854775808")
    assert err(r, "DECR", "m") == "increment or decrement would overflow"
    assert r.incrby("m", "9223372036854775807") == -1
    assert err(r, "DECRBY", "x", "-9223372036854775808") == "decrement would overflow"
    assert r.exists("x") == 0
    assert r.decrby("y", "9223372036854775807") == -9223372036854775807


def test_incrbyfloat(r):
    assert r.incrbyfloat("f", 1) == 1.0
    assert r.get("f") == b"1"
    assert enc(r, "f") == b"embstr"
    assert raw(r, "INCRBYFLOAT", "f", "0.5") == b"1.5"
    assert raw(r, "INCRBYFLOAT", "f", "-1.5") == b"0"
    assert raw(r, "INCRBYFLOAT", "f", "1.0e3") == b"1000"
    assert raw(r, "INCRBYFLOAT", "f", "-0.5") == b"999.5"
    r.set("i", "10")
    assert raw(r, "INCRBYFLOAT", "i", "5.0e3") == b"5010"
    assert raw(r, "INCRBYFLOAT", "x", "3.0") == b"3"
    r.set("t", "1", ex=100)
    r.incrbyfloat("t", 1)
    assert r.ttl("t") > 0


def test_incrbyfloat_errors(r):
    r.set("k", "abc")
    assert err(r, "INCRBYFLOAT", "k", "1") == NOT_FLOAT
    r.set("k", "1")
    assert err(r, "INCRBYFLOAT", "k", "abc") == NOT_FLOAT
    assert err(r, "INCRBYFLOAT", "k", " 1") == NOT_FLOAT
    assert err(r, "INCRBYFLOAT", "k", "nan") == NOT_FLOAT
    assert err(r, "INCRBYFLOAT", "k", "1e5000") == NOT_FLOAT
    assert err(r, "INCRBYFLOAT", "k", "inf") == "increment would produce NaN or Infinity"
    assert err(r, "INCRBYFLOAT", "k", "-inf") == "increment would produce NaN or Infinity"
    r.set("huge", "1.1e4932")
    assert err(r, "INCRBYFLOAT", "huge", "1.1e4932") == "increment would produce NaN or Infinity"
    assert r.get("k") == b"1"
    make_list(r, "l")
    assert err(r, "INCRBYFLOAT", "l", "1") == WRONGTYPE


# ------------------------------------------------------- GETRANGE / SETRANGE


def test_getrange_and_substr(r):
    r.set("k", "Hello World")
    cases = [
        ((0, 4), b"Hello"), ((0, -1), b"Hello World"), ((-5, -1), b"World"),
        ((-3, -5), b""), ((5, 3), b""), ((0, 100), b"Hello World"), ((-100, 2), b"Hel"),
        ((20, 30), b""), ((-1, -1), b"d"), ((10, 10), b"d"), ((0, -100), b"H"),
    ]
    for (s, e), want in cases:
        assert r.getrange("k", s, e) == want, (s, e)
        assert r.execute_command("SUBSTR", "k", s, e) == want, (s, e)
    assert r.getrange("nokey", 0, -1) == b""
    r.set("n", "12345")
    assert r.getrange("n", 1, 2) == b"23"
    r.set("e", "")
    assert r.getrange("e", 0, -1) == b""
    assert err(r, "GETRANGE", "k", "a", "1") == NOT_INT
    assert err(r, "GETRANGE", "nokey", "0", "b") == NOT_INT
    make_list(r, "l")
    assert err(r, "GETRANGE", "l", 0, 1) == WRONGTYPE
    assert err(r, "SUBSTR", "l", 0, 1) == WRONGTYPE


def test_setrange(r):
    assert r.setrange("k", 0, "Hello") == 5
    assert enc(r, "k") == b"raw"
    assert r.setrange("k", 6, "World") == 11
    assert r.get("k") == b"Hello\x00World"
    assert r.setrange("k", 1, "a") == 11
    assert r.get("k") == b"Hallo\x00World"
    assert r.setrange("new", 3, "x") == 4
    assert r.get("new") == b"\x00\x00\x00x"
    assert r.setrange("nokey", 5, "") == 0
    assert r.exists("nokey") == 0
    assert r.setrange("k", 100, "") == 11
    r.set("n", "123")
    assert r.setrange("n", 1, "9") == 3
    assert r.get("n") == b"193"
    assert enc(r, "n") == b"raw"
    r.set("t", "abc", ex=100)
    r.setrange("t", 0, "x")
    assert r.ttl("t") > 0


def test_setrange_errors(r):
    assert err(r, "SETRANGE", "k", "-1", "x") == "offset is out of range"
    assert err(r, "SETRANGE", "k", "a", "x") == NOT_INT
    assert err(r, "SETRANGE", "k", "536870911", "xx") == \
        "string exceeds maximum allowed size (proto-max-bulk-len)"
    assert r.exists("k") == 0
    r.set("s", "abc")
    assert err(r, "SETRANGE", "s", "536870912", "x") == \
        "string exceeds maximum allowed size (proto-max-bulk-len)"
    make_list(r, "l")
    assert err(r, "SETRANGE", "l", "0", "x") == WRONGTYPE
    assert err(r, "SETRANGE", "l", "0", "") == WRONGTYPE


# -------------------------------------------------------------------- LCS


def test_lcs_basic(r):
    r.mset({"key1": "ohmytext", "key2": "mynewtext"})
    assert r.execute_command("LCS", "key1", "key2") == b"mytext"
    assert r.execute_command("LCS", "key1", "key2", "LEN") == 6
    assert r.execute_command("LCS", "key1", "nokey") == b""
    assert r.execute_command("LCS", "nokey", "nokey2", "LEN") == 0
    assert r.execute_command("LCS", "key1", "key1") == b"ohmytext"


def test_lcs_idx(r):
    r.mset({"key1": "ohmytext", "key2": "mynewtext"})
    got = r.execute_command("LCS", "key1", "key2", "IDX")
    assert got == [b"matches", [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], b"len", 6]
    got = r.execute_command("LCS", "key1", "key2", "IDX", "MINMATCHLEN", 4)
    assert got == [b"matches", [[[4, 7], [5, 8]]], b"len", 6]
    got = r.execute_command("LCS", "key1", "key2", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN")
    assert got == [b"matches", [[[4, 7], [5, 8], 4]], b"len", 6]
    got = r.execute_command("LCS", "key1", "key2", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "-3")
    assert got == [b"matches", [[[4, 7], [5, 8], 4], [[2, 3], [0, 1], 2]], b"len", 6]
    assert r.execute_command("LCS", "key1", "nokey", "IDX") == [b"matches", [], b"len", 0]


def test_lcs_errors(r):
    r.set("a", "x")
    make_list(r, "l")
    msg = "The specified keys must contain string values"
    assert err(r, "LCS", "l", "a") == msg
    assert err(r, "LCS", "a", "l") == msg
    assert err(r, "LCS", "a", "a", "LEN", "IDX") == \
        "If you want both the length and indexes, please just use IDX."
    assert err(r, "LCS", "a", "a", "MINMATCHLEN") == SYNTAX
    assert err(r, "LCS", "a", "a", "MINMATCHLEN", "x") == NOT_INT
    assert err(r, "LCS", "a", "a", "FOO") == SYNTAX
    assert err(r, "LCS", "a") == "wrong number of arguments for 'lcs' command"


def test_lcs_across_shards(r):
    pairs = [(f"lcsA:{i}", f"lcsB:{i}") for i in range(8)]
    for a, b in pairs:
        r.set(a, "ohmytext")
        r.set(b, "mynewtext")
        assert r.execute_command("LCS", a, b) == b"mytext"
        assert r.execute_command("LCS", b, a, "LEN") == 6


# ------------------------------------------------------------- SETBIT / GETBIT


def test_setbit_getbit(r):
    assert r.setbit("b", 7, 1) == 0
    assert r.get("b") == b"\x01"
    assert enc(r, "b") == b"raw"
    assert r.setbit("b", 7, 1) == 1
    assert r.setbit("b", 7, 0) == 1
    assert r.get("b") == b"\x00"
    assert r.setbit("b", 100, 1) == 0
    assert r.strlen("b") == 13
    assert r.getbit("b", 100) == 1
    assert r.getbit("b", 99) == 0
    assert r.getbit("b", 100000) == 0
    assert r.getbit("nokey", 0) == 0
    r.set("s", "A")  # 0x41 = 01000001
    assert [r.getbit("s", i) for i in range(8)] == [0, 1, 0, 0, 0, 0, 0, 1]
    r.set("n", "1")  # int encoded "1" = 0x31
    assert r.getbit("n", 2) == 1
    assert r.setbit("n", 7, 0) == 1
    assert r.get("n") == b"0"
    assert enc(r, "n") == b"raw"


def test_setbit_errors(r):
    assert err(r, "SETBIT", "b", "-1", "1") == BIT_OFFSET
    assert err(r, "SETBIT", "b", "x", "1") == BIT_OFFSET
    assert err(r, "SETBIT", "b", "4294967296", "1") == BIT_OFFSET
    assert err(r, "SETBIT", "b", "0", "2") == "bit is not an integer or out of range"
    assert err(r, "SETBIT", "b", "0", "-1") == "bit is not an integer or out of range"
    assert err(r, "SETBIT", "b", "0", "x") == "bit is not an integer or out of range"
    assert err(r, "GETBIT", "b", "-1") == BIT_OFFSET
    assert err(r, "GETBIT", "b", "1.5") == BIT_OFFSET
    assert r.exists("b") == 0
    make_list(r, "l")
    assert err(r, "SETBIT", "l", "0", "1") == WRONGTYPE
    assert err(r, "GETBIT", "l", "0") == WRONGTYPE


# ---------------------------------------------------------------- BITCOUNT


def test_bitcount(r):
    r.set("k", "foobar")
    assert r.bitcount("k") == 26
    assert r.bitcount("k", 0, 0) == 4
    assert r.bitcount("k", 1, 1) == 6
    assert r.bitcount("k", 1, -1) == 22
    assert r.bitcount("k", -2, -1) == 7
    assert r.bitcount("k", -1, -2) == 0
    assert r.bitcount("k", 5, 2) == 0
    assert r.bitcount("k", 0, 100) == 26
    assert r.bitcount("k", -100, -1) == 26
    assert r.execute_command("BITCOUNT", "k", 5, 30, "BIT") == 17
    assert r.execute_command("BITCOUNT", "k", 0, 0, "BYTE") == 4
    assert r.execute_command("BITCOUNT", "k", 0, -1, "bit") == 26
    assert r.execute_command("BITCOUNT", "k", -3, -1, "BIT") == 1  # "r" = 01110010
    assert r.bitcount("nokey") == 0
    r.set("n", "7")
    assert r.bitcount("n") == 5  # '7' = 0x37
    big = bytes([0xFF]) * 1000 + b"\x01"
    r.set("big", big)
    assert r.bitcount("big") == 8001
    assert r.execute_command("BITCOUNT", "big", 3, 8004, "BIT") == 7997
    assert r.execute_command("BITCOUNT", "big", 3, 8007, "BIT") == 7998


def test_bitcount_errors(r):
    r.set("k", "foobar")
    assert err(r, "BITCOUNT", "k", "0") == SYNTAX
    assert err(r, "BITCOUNT", "k", "0", "1", "FOO") == SYNTAX
    assert err(r, "BITCOUNT", "k", "0", "1", "BIT", "x") == SYNTAX
    assert err(r, "BITCOUNT", "k", "a", "1") == NOT_INT
    make_list(r, "l")
    assert err(r, "BITCOUNT", "l") == WRONGTYPE


# ------------------------------------------------------------------ BITPOS


def test_bitpos(r):
    r.set("k", b"\xff\xf0\x00")
    assert r.bitpos("k", 0) == 12
    assert r.bitpos("k", 1) == 0
    assert r.bitpos("k", 0, 2) == 16
    assert r.bitpos("k", 1, 2) == -1
    assert r.bitpos("k", 1, 1) == 8
    assert r.bitpos("k", 0, 0, 0) == -1  # explicit end: no implicit padding
    r.set("ones", b"\xff\xff")
    assert r.bitpos("ones", 0) == 16  # padded with zeros on the right
    assert r.bitpos("ones", 0, 0, -1) == -1
    assert r.bitpos("ones", 0, 5) == -1  # empty range
    r.set("z", b"\x00\x00")
    assert r.bitpos("z", 1) == -1
    assert r.bitpos("z", 0) == 0
    assert r.bitpos("nokey", 1) == -1
    assert r.bitpos("nokey", 0) == 0
    r.set("e", "")
    assert r.bitpos("e", 0) == -1
    assert r.bitpos("e", 1) == -1


def test_bitpos_bit_mode(r):
    r.set("k", b"\x00\xff\x00")
    assert r.execute_command("BITPOS", "k", 1, 7, 15, "BIT") == 8
    assert r.execute_command("BITPOS", "k", 1, 9, -1, "BIT") == 9
    assert r.execute_command("BITPOS", "k", 0, 8, 15, "BIT") == -1
    assert r.execute_command("BITPOS", "k", 0, 8, -1, "BIT") == 16
    assert r.execute_command("BITPOS", "k", 1, 0, 6, "BIT") == -1
    assert r.execute_command("BITPOS", "k", 1, 1, 1, "BYTE") == 8
    assert r.execute_command("BITPOS", "k", 1, -3, -2, "BIT") == -1
    assert r.execute_command("BITPOS", "k", 0, 3, 3, "BIT") == 3


def test_bitpos_errors(r):
    r.set("k", "a")
    assert err(r, "BITPOS", "k", "2") == "The bit argument must be 1 or 0."
    assert err(r, "BITPOS", "nokey", "-1") == "The bit argument must be 1 or 0."
    assert err(r, "BITPOS", "k", "x") == NOT_INT
    assert err(r, "BITPOS", "k", "1", "x") == NOT_INT
    assert err(r, "BITPOS", "k", "1", "0", "x") == NOT_INT
    assert err(r, "BITPOS", "k", "1", "0", "1", "FOO") == SYNTAX
    assert err(r, "BITPOS", "k", "1", "0", "1", "BIT", "x") == SYNTAX
    make_list(r, "l")
    assert err(r, "BITPOS", "l", "1") == WRONGTYPE


# ------------------------------------------------------------------- BITOP


def test_bitop_ops(r):
    r.set("a", b"\xff\x0f")
    r.set("b", b"\x0f")
    assert r.bitop("AND", "d", "a", "b") == 2
    assert r.get("d") == b"\x0f\x00"
    assert enc(r, "d") == b"raw"
    assert r.bitop("OR", "d", "a", "b") == 2
    assert r.get("d") == b"\xff\x0f"
    assert r.bitop("XOR", "d", "a", "b") == 2
    assert r.get("d") == b"\xf0\x0f"
    assert r.bitop("NOT", "d", "b") == 1
    assert r.get("d") == b"\xf0"
    assert r.bitop("and", "d", "a", "nokey") == 2
    assert r.get("d") == b"\x00\x00"
    assert r.bitop("or", "d", "a") == 2
    assert r.get("d") == b"\xff\x0f"


def test_bitop_dest_semantics(r):
    r.set("d", "old", ex=100)
    r.set("a", "x")
    assert r.bitop("OR", "d", "a") == 1
    assert r.ttl("d") == -1
    # All sources missing: the destination is deleted.
    assert r.bitop("AND", "d", "nokey1", "nokey2") == 0
    assert r.exists("d") == 0
    make_list(r, "l")
    assert r.bitop("OR", "l", "a") == 1  # overwrites any type
    assert r.get("l") == b"x"
    r.set("n", "12")  # int encoded source
    assert r.bitop("NOT", "d", "n") == 2
    assert r.get("d") == bytes([0xFF ^ 0x31, 0xFF ^ 0x32])


def test_bitop_errors(r):
    r.set("a", "x")
    make_list(r, "l")
    assert err(r, "BITOP", "FOO", "d", "a") == SYNTAX
    assert err(r, "BITOP", "NOT", "d", "a", "a") == "BITOP NOT must be called with a single source key."
    assert err(r, "BITOP", "AND", "d", "a", "l") == WRONGTYPE
    assert r.exists("d") == 0
    assert err(r, "BITOP", "AND", "d") == "wrong number of arguments for 'bitop' command"


def test_bitop_across_shards(r):
    srcs = [f"src:{i}" for i in range(MANY)]
    for i, k in enumerate(srcs):
        r.set(k, bytes([1 << (i % 8)]) * (1 + i % 3))
    assert r.bitop("OR", "dest:or", *srcs) == 3
    assert r.get("dest:or") == b"\xff\xff\xff"
    assert r.bitop("AND", "dest:and", *srcs) == 3
    assert r.get("dest:and") == b"\x00\x00\x00"
    xor = bytearray(3)
    for i in range(MANY):
        for j in range(1 + i % 3):
            xor[j] ^= 1 << (i % 8)
    for dest in (f"xor:{i}" for i in range(4)):
        assert r.bitop("XOR", dest, *srcs) == 3
        assert r.get(dest) == bytes(xor)


# ---------------------------------------------------------------- BITFIELD


def test_bitfield_get_set_incrby(r):
    assert r.execute_command("BITFIELD", "bf", "SET", "u8", 0, 255, "GET", "u8", 0) == [0, 255]
    assert enc(r, "bf") == b"raw"
    assert r.execute_command("BITFIELD", "bf", "GET", "i8", 0, "GET", "u4", 0, "GET", "u4", 4) == [-1, 15, 15]
    assert r.execute_command("BITFIELD", "bf", "INCRBY", "u8", 0, 1) == [0]  # wraps
    assert r.execute_command("BITFIELD", "bf", "SET", "i16", "#1", -2, "GET", "i16", 16) == [0, -2]
    assert r.get("bf") == b"\x00\x00\xff\xfe"
    assert r.execute_command("BITFIELD", "bf", "GET", "u8", 100) == [0]  # beyond the end
    assert r.execute_command("BITFIELD", "nokey", "GET", "u8", 0, "GET", "i64", 0) == [0, 0]
    assert r.exists("nokey") == 0
    assert r.execute_command("BITFIELD", "bf") == []
    assert r.execute_command("BITFIELD", "bf", "OVERFLOW", "SAT") == []
    r.set("s", "A")
    assert r.execute_command("BITFIELD", "s", "GET", "u8", 0, "GET", "u3", 1) == [65, 4]
    r.delete("w")
    assert r.execute_command("BITFIELD", "w", "SET", "u2", 100, 3) == [0]
    assert r.strlen("w") == 13
    assert r.execute_command("BITFIELD", "w", "SET", "i64", 0, -1, "GET", "i64", 0, "GET", "u63", 0) == \
        [0, -1, (1 << 63) - 1]


def test_bitfield_overflow_modes(r):
    bf = lambda *a: r.execute_command("BITFIELD", "k", *a)
    assert bf("SET", "u8", 0, 250) == [0]
    assert bf("INCRBY", "u8", 0, 10) == [4]
    assert bf("OVERFLOW", "SAT", "INCRBY", "u8", 0, 300) == [255]
    assert bf("OVERFLOW", "SAT", "INCRBY", "u8", 0, -300) == [0]
    assert bf("OVERFLOW", "FAIL", "INCRBY", "u8", 0, 256) == [None]
    assert bf("GET", "u8", 0) == [0]
    assert bf("OVERFLOW", "FAIL", "INCRBY", "u8", 0, 255, "INCRBY", "u8", 0, 1) == [255, None]
    assert bf("SET", "i8", 8, 127) == [0]
    assert bf("INCRBY", "i8", 8, 1) == [-128]
    assert bf("OVERFLOW", "SAT", "INCRBY", "i8", 8, -1000) == [-128]
    assert bf("OVERFLOW", "SAT", "INCRBY", "i8", 8, 1000) == [127]
    assert bf("OVERFLOW", "FAIL", "INCRBY", "i8", 8, 1) == [None]
    assert bf("OVERFLOW", "WRAP", "INCRBY", "i8", 8, 1) == [-128]
    # The OVERFLOW mode applies to the operations after it only.
    assert bf("INCRBY", "u2", 16, 5, "OVERFLOW", "SAT", "INCRBY", "u2", 18, 5) == [1, 3]
    # SET out of range: wraps, saturates or fails, reporting the old value.
    assert bf("SET", "u4", 24, 17) == [0]
    assert bf("GET", "u4", 24) == [1]
    assert bf("OVERFLOW", "SAT", "SET", "i4", 28, 100, "GET", "i4", 28) == [0, 7]
    assert bf("OVERFLOW", "FAIL", "SET", "i4", 28, -9, "GET", "i4", 28) == [None, 7]
    assert bf("OVERFLOW", "SAT", "INCRBY", "i64", 32, "9223372036854775807",
              "INCRBY", "i64", 32, 1) == [9223372036854775807, 9223372036854775807]
    assert bf("OVERFLOW", "WRAP", "INCRBY", "i64", 32, 1) == [-9223372036854775808]


def test_bitfield_errors(r):
    r.set("k", "x")
    assert err(r, "BITFIELD", "k", "GET", "u64", 0) == BF_TYPE
    assert err(r, "BITFIELD", "k", "GET", "i65", 0) == BF_TYPE
    assert err(r, "BITFIELD", "k", "GET", "i0", 0) == BF_TYPE
    assert err(r, "BITFIELD", "k", "GET", "x8", 0) == BF_TYPE
    assert err(r, "BITFIELD", "k", "GET", "u", 0) == BF_TYPE
    assert err(r, "BITFIELD", "k", "GET", "u8", -1) == BIT_OFFSET
    assert err(r, "BITFIELD", "k", "GET", "u8", "#-1") == BIT_OFFSET
    assert err(r, "BITFIELD", "k", "GET", "u8", "4294967296") == BIT_OFFSET
    assert err(r, "BITFIELD", "k", "SET", "u8", 0, "x") == NOT_INT
    assert err(r, "BITFIELD", "k", "INCRBY", "u8", 0) == SYNTAX
    assert err(r, "BITFIELD", "k", "GET", "u8") == SYNTAX
    assert err(r, "BITFIELD", "k", "FOO") == SYNTAX
    assert err(r, "BITFIELD", "k", "OVERFLOW", "BAD") == "Invalid OVERFLOW type specified"
    assert err(r, "BITFIELD", "k", "OVERFLOW") == SYNTAX
    # A bad operation anywhere means nothing was written.
    assert err(r, "BITFIELD", "k", "SET", "u8", 0, 1, "GET", "u99", 0) == BF_TYPE
    assert r.get("k") == b"x"
    make_list(r, "l")
    assert err(r, "BITFIELD", "l") == WRONGTYPE
    assert err(r, "BITFIELD", "l", "GET", "u8", 0) == WRONGTYPE
    assert err(r, "BITFIELD", "l", "SET", "u8", 0, 1) == WRONGTYPE


def test_bitfield_ro(r):
    r.set("k", b"\x81")
    assert r.execute_command("BITFIELD_RO", "k", "GET", "u8", 0, "GET", "i8", 0) == [129, -127]
    assert r.execute_command("BITFIELD_RO", "k") == []
    assert r.execute_command("BITFIELD_RO", "nokey", "GET", "u1", 0) == [0]
    assert err(r, "BITFIELD_RO", "k", "SET", "u8", 0, 1) == "BITFIELD_RO only supports the GET subcommand"
    assert err(r, "BITFIELD_RO", "k", "INCRBY", "u8", 0, 1) == "BITFIELD_RO only supports the GET subcommand"
    assert err(r, "BITFIELD_RO", "k", "OVERFLOW", "WRAP", "GET", "u8", "x") == BIT_OFFSET
    make_list(r, "l")
    assert err(r, "BITFIELD_RO", "l", "GET", "u8", 0) == WRONGTYPE
    assert r.get("k") == b"\x81"


# ------------------------------------------------------------ command table


def test_command_info_key_specs(r):
    info = raw(r, "COMMAND", "INFO", "mset", "mget", "bitop", "lcs", "get")
    by_name = {entry[0]: entry for entry in info}
    assert by_name[b"mset"][1] == -3
    assert by_name[b"mset"][3:6] == [1, -1, 2]
    assert by_name[b"mget"][3:6] == [1, -1, 1]
    assert by_name[b"bitop"][3:6] == [2, -1, 1]
    assert by_name[b"lcs"][3:6] == [1, 2, 1]
    assert by_name[b"get"][1] == 2
    keys = raw(r, "COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2")
    assert keys == [b"a", b"b"]
    keys = raw(r, "COMMAND", "GETKEYS", "BITOP", "AND", "d", "s1", "s2")
    assert keys == [b"d", b"s1", b"s2"]
    keys = raw(r, "COMMAND", "GETKEYS", "LCS", "k1", "k2", "IDX")
    assert keys == [b"k1", b"k2"]
