"""Generic key commands (core/t_keys.c) against a 2-shard server: DEL, UNLINK,
EXISTS, TOUCH, TYPE, RENAME(NX), COPY, MOVE, KEYS, SCAN, RANDOMKEY, DBSIZE,
FLUSHDB, FLUSHALL, SWAPDB, OBJECT."""


from conftest import keys_on_shard
from conftest import err


def two_shard_keys(prefix="k"):
    """One key on shard 0 and one on shard 1."""
    return keys_on_shard(0, 1, prefix)[0], keys_on_shard(1, 1, prefix)[0]


# ---------- DEL UNLINK EXISTS TOUCH TYPE ----------

def test_del_counts_keys_across_shards(r):
    a, b = two_shard_keys()
    r.set(a, "1")
    r.set(b, "2")
    assert r.execute_command("DEL", a, b, "missing") == 2
    assert r.execute_command("DEL", a, b) == 0
    assert r.exists(a, b) == 0


def test_unlink(r):
    keys = keys_on_shard(0, 3, "u") + keys_on_shard(1, 3, "u")
    for k in keys:
        r.set(k, "v")
    assert r.execute_command("UNLINK", *keys, "nothere") == 6
    assert r.dbsize() == 0


def test_exists_counts_repeats(r):
    a, b = two_shard_keys()
    r.set(a, "1")
    r.set(b, "1")
    assert r.execute_command("EXISTS", a, a, b, "missing", b) == 4
    assert r.execute_command("EXISTS", "missing") == 0


def test_touch(r):
    a, b = two_shard_keys()
    r.set(a, "1")
    r.set(b, "1")
    assert r.execute_command("TOUCH", a, b, "missing") == 2


def test_type(r):
    r.set("s", "v")
    assert r.type("s") == b"string"
    assert r.type("missing") == b"none"


def test_arity_errors(r):
    assert "wrong number of arguments for 'del' command" in err(r, "DEL")
    assert "wrong number of arguments for 'keys' command" in err(r, "KEYS")
    assert "wrong number of arguments for 'dbsize' command" in err(r, "DBSIZE", "x")
    assert "wrong number of arguments for 'randomkey' command" in err(r, "RANDOMKEY", "x")


# ---------- RENAME RENAMENX ----------

def test_rename_basic_and_keeps_ttl(r):
    r.set("src", "v")
    r.pexpire("src", 100000)
    assert r.execute_command("RENAME", "src", "dst") is True
    assert r.get("dst") == b"v"
    assert r.exists("src") == 0
    assert 0 < r.pttl("dst") <= 100000


def test_rename_across_shards(r):
    a, b = two_shard_keys("rn")
    r.set(a, "value")
    r.set(b, "old")
    assert r.execute_command("RENAME", a, b) is True
    assert r.get(b) == b"value"
    assert r.exists(a) == 0
    assert r.ttl(b) == -1


def test_rename_overwrite_clears_dst_ttl(r):
    r.set("src", "1")
    r.set("dst", "2")
    r.expire("dst", 1000)
    r.execute_command("RENAME", "src", "dst")
    assert r.ttl("dst") == -1


def test_rename_errors_and_same_key(r):
    assert err(r, "RENAME", "missing", "x") == "no such key"
    assert err(r, "RENAMENX", "missing", "x") == "no such key"
    assert err(r, "RENAME", "missing", "missing") == "no such key"
    r.set("k", "v")
    assert r.execute_command("RENAME", "k", "k") is True
    assert r.execute_command("RENAMENX", "k", "k") == 0
    assert r.get("k") == b"v"


def test_renamenx(r):
    a, b = two_shard_keys("nx")
    r.set(a, "1")
    r.set(b, "2")
    assert r.execute_command("RENAMENX", a, b) == 0
    assert r.get(a) == b"1" and r.get(b) == b"2"
    r.delete(b)
    assert r.execute_command("RENAMENX", a, b) == 1
    assert r.get(b) == b"1"
    assert r.exists(a) == 0


# ---------- COPY MOVE ----------

def test_copy_basic(r):
    r.set("src", "hello")
    r.pexpire("src", 100000)
    assert r.execute_command("COPY", "src", "dst") == 1
    assert r.get("dst") == b"hello"
    assert r.get("src") == b"hello"
    assert 0 < r.pttl("dst") <= 100000
    # Destination exists: refused unless REPLACE.
    r.set("src", "new")
    assert r.execute_command("COPY", "src", "dst") == 0
    assert r.get("dst") == b"hello"
    assert r.execute_command("COPY", "src", "dst", "REPLACE") == 1
    assert r.get("dst") == b"new"
    assert r.ttl("dst") == -1
    assert r.execute_command("COPY", "missing", "dst") == 0


def test_copy_across_shards(r):
    a, b = two_shard_keys("cp")
    r.set(a, "12345")
    assert r.execute_command("COPY", a, b) == 1
    assert r.get(b) == b"12345"
    assert r.get(a) == b"12345"


def test_copy_to_other_db(r, ringkv):
    r.set("k", "v")
    assert r.execute_command("COPY", "k", "k", "DB", 1) == 1
    r1 = ringkv.client(db=1)
    assert r1.get("k") == b"v"
    assert r.execute_command("COPY", "k", "k", "DB", 1) == 0
    assert r.execute_command("COPY", "k", "k", "db", "1", "replace") == 1


def test_copy_errors(r):
    r.set("k", "v")
    assert err(r, "COPY", "k", "k") == "source and destination objects are the same"
    assert err(r, "COPY", "k", "x", "DB", 99) == "DB index is out of range"
    assert err(r, "COPY", "k", "x", "DB", -1) == "DB index is out of range"
    assert err(r, "COPY", "k", "x", "DB", "abc") == "value is not an integer or out of range"
    assert err(r, "COPY", "k", "x", "DB") == "syntax error"
    assert err(r, "COPY", "k", "x", "foo") == "syntax error"


def test_move(r, ringkv):
    r1 = ringkv.client(db=1)
    a, b = two_shard_keys("mv")
    for k in (a, b):
        r.set(k, "v-" + k)
        r.pexpire(k, 100000)
        assert r.execute_command("MOVE", k, 1) == 1
        assert r.exists(k) == 0
        assert r1.get(k) == b"v-" + k.encode()
        assert 0 < r1.pttl(k) <= 100000
    # Missing source, or the key already exists in the destination: 0.
    assert r.execute_command("MOVE", a, 1) == 0
    r.set(a, "again")
    assert r.execute_command("MOVE", a, 1) == 0
    assert r.get(a) == b"again"


def test_move_errors(r):
    r.set("k", "v")
    assert err(r, "MOVE", "k", 0) == "source and destination objects are the same"
    assert err(r, "MOVE", "k", 99) == "DB index is out of range"
    assert err(r, "MOVE", "k", -1) == "DB index is out of range"
    assert err(r, "MOVE", "k", "x") == "value is not an integer or out of range"
    assert r.execute_command("MOVE", "missing", 1) == 0


# ---------- KEYS ----------

def test_keys_patterns_across_shards(r):
    names = ["foo", "foobar", "fxo", "bar", "hello", "hallo", "hxllo", "h*llo", "k[1]"]
    for n in names:
        r.set(n, "1")
    def keys(p):
        return set(r.keys(p))
    assert keys("*") == {n.encode() for n in names}
    assert keys("foo*") == {b"foo", b"foobar"}
    assert keys("f?o") == {b"foo", b"fxo"}
    assert keys("h[ae]llo") == {b"hallo", b"hello"}
    assert keys("h[^e]llo") == {b"hallo", b"hxllo", b"h*llo"}
    assert keys("h[a-b]llo") == {b"hallo"}
    assert keys("h\\*llo") == {b"h*llo"}
    assert keys("k\\[1\\]") == {b"k[1]"}
    assert keys("nomatch*") == set()


def test_keys_many_on_both_shards(r):
    keys = keys_on_shard(0, 50, "km") + keys_on_shard(1, 50, "km")
    r.mset({k: "v" for k in keys})
    assert set(r.keys("km:*")) == {k.encode() for k in keys}


# ---------- SCAN ----------

def full_scan(r, *args):
    seen, cursor, calls = [], 0, 0
    while True:
        reply = r.execute_command("SCAN", cursor, *args)
        cursor = int(reply[0])  # redis-py parses SCAN into (int, list)
        seen.extend(reply[1])
        calls += 1
        assert calls < 100000
        if cursor == 0:
            return seen


def test_scan_returns_every_key(r):
    keys = {("key:%d" % i).encode() for i in range(1000)}
    pipe = r.pipeline(transaction=False)
    for k in keys:
        pipe.set(k, "v")
    pipe.execute()
    seen = full_scan(r)
    assert set(seen) == keys
    # COUNT changes the page size, not the result.
    assert set(full_scan(r, "COUNT", 1)) == keys
    assert set(full_scan(r, "COUNT", 1000)) == keys


def test_scan_match_and_type(r):
    pipe = r.pipeline(transaction=False)
    for i in range(1000):
        pipe.set("key:%d" % i, "v")
    pipe.execute()
    assert set(full_scan(r, "MATCH", "key:1*")) == {
        ("key:%d" % i).encode() for i in range(1000) if str(i).startswith("1")}
    assert set(full_scan(r, "MATCH", "key:*", "TYPE", "string", "COUNT", 50)) == {
        ("key:%d" % i).encode() for i in range(1000)}
    assert full_scan(r, "TYPE", "list") == []
    assert full_scan(r, "TYPE", "nosuchtype") == []


def test_scan_while_adding_keys(r):
    base = {("base:%d" % i).encode() for i in range(1000)}
    pipe = r.pipeline(transaction=False)
    for k in base:
        pipe.set(k, "v")
    pipe.execute()
    seen, cursor, added = set(), 0, 0
    while True:
        cursor, page = r.scan(cursor, count=20)
        seen.update(page)
        # Grow the keyspace during the scan (forces rehashing on both shards).
        pipe = r.pipeline(transaction=False)
        for _ in range(30):
            pipe.set("added:%d" % added, "v")
            added += 1
        pipe.execute()
        if cursor == 0:
            break
    assert base <= seen


def test_scan_empty_db(r):
    # The cursor walks the shards in turn, so an empty db may take one
    # (empty) page per shard before the cursor returns to 0.
    cursor, page = r.scan(0)
    assert page == []
    assert full_scan(r) == []


def test_scan_errors(r):
    assert err(r, "SCAN", "x") == "invalid cursor"
    assert err(r, "SCAN", "1x") == "invalid cursor"
    assert err(r, "SCAN", "18446744073709551616") == "invalid cursor"
    assert err(r, "SCAN", 0, "COUNT", 0) == "syntax error"
    assert err(r, "SCAN", 0, "COUNT", -1) == "syntax error"
    assert err(r, "SCAN", 0, "COUNT", "x") == "value is not an integer or out of range"
    assert err(r, "SCAN", 0, "MATCH") == "syntax error"
    assert err(r, "SCAN", 0, "FOO", "bar") == "syntax error"


# ---------- RANDOMKEY DBSIZE ----------

def test_randomkey(r):
    assert r.randomkey() is None
    a, b = two_shard_keys("rk")
    r.set(a, "1")
    r.set(b, "1")
    seen = {r.randomkey() for _ in range(200)}
    assert seen == {a.encode(), b.encode()}


def test_dbsize_across_shards(r, ringkv):
    assert r.dbsize() == 0
    keys = keys_on_shard(0, 7, "d") + keys_on_shard(1, 5, "d")
    for k in keys:
        r.set(k, "v")
    assert r.dbsize() == 12
    assert ringkv.client(db=1).dbsize() == 0


# ---------- FLUSHDB FLUSHALL SWAPDB ----------

def test_flushdb_only_current_db(r, ringkv):
    r1 = ringkv.client(db=1)
    a, b = two_shard_keys("f")
    r.set(a, "1")
    r.set(b, "1")
    r1.set(a, "1")
    assert r.execute_command("FLUSHDB") is True
    assert r.dbsize() == 0
    assert r1.dbsize() == 1
    r.set(a, "1")
    assert r.execute_command("FLUSHDB", "ASYNC") is True
    assert r.execute_command("FLUSHDB", "sync") is True
    assert r.dbsize() == 0
    assert err(r, "FLUSHDB", "foo") == "syntax error"
    assert err(r, "FLUSHDB", "async", "sync") == "syntax error"


def test_flushall_all_dbs(r, ringkv):
    r1 = ringkv.client(db=1)
    a, b = two_shard_keys("fa")
    r.set(a, "1")
    r1.set(b, "1")
    r1.expire(b, 1000)
    assert r.execute_command("FLUSHALL") is True
    assert r.dbsize() == 0 and r1.dbsize() == 0
    r.set(a, "1")
    assert r.execute_command("FLUSHALL", "ASYNC") is True
    assert r.dbsize() == 0
    assert err(r, "FLUSHALL", "x") == "syntax error"


def test_swapdb(r, ringkv):
    r1 = ringkv.client(db=1)
    a, b = two_shard_keys("sw")
    r.set(a, "db0")
    r.expire(a, 1000)
    r1.set(b, "db1")
    assert r.execute_command("SWAPDB", 0, 1) is True
    assert r.get(b) == b"db1" and r.exists(a) == 0
    assert r1.get(a) == b"db0" and r1.exists(b) == 0
    assert 0 < r1.ttl(a) <= 1000
    assert r.execute_command("SWAPDB", 1, 1) is True
    assert err(r, "SWAPDB", "x", 1) == "invalid first DB index"
    assert err(r, "SWAPDB", 1, "x") == "invalid second DB index"
    assert err(r, "SWAPDB", 0, 99) == "DB index is out of range"
    assert err(r, "SWAPDB", -1, 0) == "DB index is out of range"


# ---------- OBJECT ----------

def test_object_encoding(r):
    r.set("i", "12345")
    r.set("e", "hello")
    r.set("raw", "x" * 100)
    assert r.object("encoding", "i") == b"int"
    assert r.object("encoding", "e") == b"embstr"
    assert r.object("encoding", "raw") == b"raw"
    assert r.object("encoding", "missing") is None


def test_object_refcount_idletime_freq(r):
    r.set("small", "100")
    r.set("big", "20000")
    r.set("s", "text")
    assert r.object("refcount", "small") == 2147483647
    assert r.object("refcount", "big") == 1
    assert r.object("refcount", "s") == 1
    assert r.object("refcount", "missing") is None
    assert 0 <= r.object("idletime", "s") <= 2
    assert r.object("idletime", "missing") is None
    assert err(r, "OBJECT", "FREQ", "s").startswith(
        "An LFU maxmemory policy is not selected, access frequency not tracked.")


def test_object_help_and_errors(r):
    lines = r.execute_command("OBJECT", "HELP", infotype="help")
    assert lines[0] == b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert b"ENCODING <key>" in lines
    assert lines[-2:] == [b"HELP", b"    Prints this help."]
    assert err(r, "OBJECT", "foo", "k") == "unknown subcommand 'foo'. Try OBJECT HELP."
    assert "wrong number of arguments for 'object|encoding' command" in err(
        r, "OBJECT", "ENCODING")
