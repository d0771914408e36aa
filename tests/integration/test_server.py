"""Server commands: PING ECHO TIME COMMAND INFO CONFIG SLOWLOG DEBUG.

The shared server runs with --shards 2 and the DEBUG command enabled."""

import shutil
import subprocess
import time

import pytest
import redis

from conftest import free_port, keys_on_shard


@pytest.fixture
def raw(r, ringkv):
    """A client that returns replies unparsed (no redis-py response callbacks)."""
    c = ringkv.client()
    c.response_callbacks = {}
    yield c
    c.close()


def test_ping_echo_time(r):
    assert r.ping() is True
    assert r.echo("x y") == b"x y"
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'ping' command"):
        r.execute_command("PING", "a", "b")
    sec, usec = r.time()
    assert abs(sec - time.time()) < 5 and 0 <= usec < 1000000


def test_command_count_info_docs(r, raw):
    count = raw.execute_command("COMMAND", "COUNT")
    assert count > 20
    info = raw.execute_command("COMMAND", "INFO", "get", "nosuchcmd", "config|get")
    get, missing, cget = info
    assert missing is None
    assert get[0] == b"get" and get[1] == 2
    assert b"readonly" in get[2] and b"fast" in get[2]
    assert get[3:6] == [1, 1, 1]
    assert b"@read" in get[6] and b"@string" in get[6]
    assert len(get) == 10
    assert cget[0] == b"config|get" and cget[1] == -3
    docs = raw.execute_command("COMMAND", "DOCS", "get")
    assert docs[0] == b"get"
    fields = dict(zip(docs[1][::2], docs[1][1::2]))
    assert fields[b"group"] == b"string"


def test_command_all_parses_in_redis_py(r):
    cmds = r.command()  # redis-py parses the 10-element Redis 7 entries
    assert cmds["get"]["arity"] == 2
    assert cmds["mset"]["step_count"] == 2
    assert "subcommands" in cmds["config"]
    assert len(cmds) == r.command_count()


def test_command_list(r, raw):
    names = raw.execute_command("COMMAND", "LIST")
    assert b"get" in names and b"config|get" in names
    pat = raw.execute_command("COMMAND", "LIST", "FILTERBY", "PATTERN", "config*")
    assert b"config" in pat and b"config|set" in pat and b"get" not in pat
    cat = raw.execute_command("COMMAND", "LIST", "FILTERBY", "ACLCAT", "string")
    assert b"get" in cat and b"ping" not in cat
    assert raw.execute_command("COMMAND", "LIST", "FILTERBY", "MODULE", "x") == []
    with pytest.raises(redis.ResponseError, match="syntax error"):
        raw.execute_command("COMMAND", "LIST", "FILTERBY", "BOGUS", "x")


def test_command_getkeys(r, raw):
    assert raw.execute_command("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2") == [b"a", b"b"]
    assert raw.execute_command("COMMAND", "GETKEYS", "GET", "k") == [b"k"]
    with pytest.raises(redis.ResponseError, match="^Invalid command specified"):
        raw.execute_command("COMMAND", "GETKEYS", "NOPE", "x")
    with pytest.raises(redis.ResponseError, match="^The command has no key arguments"):
        raw.execute_command("COMMAND", "GETKEYS", "PING", "x")
    with pytest.raises(redis.ResponseError, match="^Invalid number of arguments specified for command"):
        raw.execute_command("COMMAND", "GETKEYS", "GET", "a", "b")
    flags = raw.execute_command("COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v")
    assert flags[0][0] == b"k"


def test_unknown_subcommand_and_arity(r, raw):
    with pytest.raises(redis.ResponseError, match=r"^unknown subcommand 'foo'. Try CONFIG HELP."):
        raw.execute_command("CONFIG", "foo")
    with pytest.raises(redis.ResponseError, match=r"wrong number of arguments for 'config\|get' command"):
        raw.execute_command("CONFIG", "GET")
    assert len(raw.execute_command("CONFIG", "HELP")) > 3
    assert len(raw.execute_command("SLOWLOG", "HELP")) > 3
    assert len(raw.execute_command("COMMAND", "HELP")) > 3


def parse_info(raw):
    out = {}
    for line in raw.decode().split("\r\n"):
        if line and not line.startswith("#") and ":" in line:
            k, v = line.split(":", 1)
            out[k] = v
    return out


def test_info_sections(r, ringkv):
    c = ringkv.client()
    c.response_callbacks = {}
    raw = c.execute_command("INFO")
    assert raw.startswith(b"# Server\r\n")
    info = parse_info(raw)
    assert info["redis_version"] == "7.0.15"
    assert info["ringkv_version"] == "0.1.0"
    assert info["redis_mode"] == "standalone"
    assert info["tcp_port"] == str(ringkv.port)
    assert len(info["run_id"]) == 40
    assert info["multiplexing_api"] in ("io_uring", "epoll")
    assert info["shards"] == "2"
    assert int(info["connected_clients"]) >= 1
    assert int(info["used_memory"]) > 0
    assert info["mem_allocator"].startswith("mimalloc")
    assert "used_cpu_user" in info and "total_commands_processed" in info
    assert "cmdstat_ping" not in raw.decode()  # commandstats is not a default section
    assert r.info("server")["run_id"] == info["run_id"]
    assert c.execute_command("INFO", "nosuchsection") == b""
    multi = c.execute_command("INFO", "server", "CLIENTS").decode()
    assert "# Server" in multi and "# Clients" in multi and "# Memory" not in multi
    assert "# Commandstats" in c.execute_command("INFO", "all").decode()
    assert "# Commandstats" in c.execute_command("INFO", "everything").decode()
    c.close()


def test_info_keyspace_sums_shards(r):
    a = keys_on_shard(0, 3, prefix="ks0_")
    b = keys_on_shard(1, 2, prefix="ks1_")
    for k in a + b:
        r.set(k, "v")
    r.expire(a[0], 100)
    assert r.info("keyspace")["db0"]["keys"] == 5
    assert r.info("keyspace")["db0"]["expires"] == 1
    r.flushall()
    assert r.info("keyspace") == {}


def test_info_stats_commandstats_errorstats(r):
    r.config_resetstat()
    r.set("foo", "bar")
    r.get("foo")
    r.get("nokey")
    with pytest.raises(redis.ResponseError):
        r.execute_command("INCR", "foo")
    stats = r.info("commandstats")
    assert stats["cmdstat_get"]["calls"] == 2
    assert stats["cmdstat_set"]["calls"] == 1
    assert stats["cmdstat_incr"]["failed_calls"] == 1, stats
    errs = r.info("errorstats")
    err = errs["errorstat_ERR"]  # redis-py leaves "count=N" unparsed
    assert int(err["count"] if isinstance(err, dict) else err.split("=")[1]) >= 1
    st = r.info("stats")
    assert st["keyspace_hits"] >= 1 and st["keyspace_misses"] >= 1
    assert st["total_error_replies"] >= 1
    r.config_resetstat()
    assert "cmdstat_get" not in r.info("commandstats")


def test_config_get_set(r, raw):
    assert r.config_get("port")["port"].isdigit()
    both = raw.execute_command("CONFIG", "GET", "hz", "maxclients", "h*")
    d = dict(zip(both[::2], both[1::2]))
    assert b"hz" in d and b"maxclients" in d
    assert both.count(b"hz") == 1  # a name matched twice appears once
    old = r.config_get("slowlog-max-len")["slowlog-max-len"]
    try:
        assert r.config_set("slowlog-max-len", "77")
        assert r.config_get("slowlog-max-len")["slowlog-max-len"] == "77"
    finally:
        r.config_set("slowlog-max-len", old)


def test_config_set_errors_are_atomic(r):
    old = r.config_get("slowlog-max-len")["slowlog-max-len"]
    with pytest.raises(redis.ResponseError, match="Unknown option or number of arguments for CONFIG SET - 'nosuch'"):
        r.execute_command("CONFIG", "SET", "nosuch", "1")
    with pytest.raises(redis.ResponseError, match="duplicate parameter"):
        r.execute_command("CONFIG", "SET", "slowlog-max-len", "1", "slowlog-max-len", "2")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("CONFIG", "SET", "slowlog-max-len", "1", "hz")
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        r.execute_command("CONFIG", "SET", "daemonize", "yes")
    with pytest.raises(redis.ResponseError):
        r.execute_command("CONFIG", "SET", "slowlog-max-len", "5", "port", "notanumber")
    assert r.config_get("slowlog-max-len")["slowlog-max-len"] == old


def test_config_rewrite_without_file(r):
    with pytest.raises(redis.ResponseError, match="The server is running without a config file"):
        r.execute_command("CONFIG", "REWRITE")


def test_slowlog(r):
    old = r.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
    try:
        r.slowlog_reset()
        r.config_set("slowlog-log-slower-than", "0")
        a, b = keys_on_shard(0, 1, prefix="sl0_")[0], keys_on_shard(1, 1, prefix="sl1_")[0]
        r.get(a)
        r.get(b)
        assert r.slowlog_len() >= 2
        entries = r.execute_command("SLOWLOG", "GET", "-1")
        ids = [e[0] for e in entries]
        assert ids == sorted(ids, reverse=True)
        args = [e[3] for e in entries]
        assert [b"GET", a.encode()] in args and [b"GET", b.encode()] in args
        assert len(entries[0]) == 6
        assert len(r.execute_command("SLOWLOG", "GET", "1")) == 1
        with pytest.raises(redis.ResponseError, match="count should be greater than or equal to -1"):
            r.execute_command("SLOWLOG", "GET", "-2")
        with pytest.raises(redis.ResponseError, match="count should be greater than or equal to -1"):
            r.execute_command("SLOWLOG", "GET", "x")
    finally:
        r.config_set("slowlog-log-slower-than", old)
    r.slowlog_reset()
    assert r.slowlog_len() <= 1  # the RESET itself may be logged


def test_debug_populate_object_digest(r, raw):
    assert raw.execute_command("DEBUG", "DIGEST") == b"0" * 40
    assert raw.execute_command("DEBUG", "POPULATE", "50") == b"OK"
    assert r.dbsize() == 50
    assert r.get("key:7") == b"value:7"
    r.set("key:3", "mine")
    raw.execute_command("DEBUG", "POPULATE", "60", "key", "4")
    assert r.dbsize() == 60
    assert r.get("key:3") == b"mine"  # existing keys untouched
    assert r.get("key:55") == b"valu"
    raw.execute_command("DEBUG", "POPULATE", "2", "pad", "10")
    assert r.get("pad:1") == b"value:1\x00\x00\x00"
    with pytest.raises(redis.ResponseError, match="value is out of range, must be positive"):
        raw.execute_command("DEBUG", "POPULATE", "-1")
    line = raw.execute_command("DEBUG", "OBJECT", "key:7")
    assert line.startswith(b"Value at:") and b"encoding:embstr" in line and b"serializedlength:8" in line
    r.set("n", 123)
    assert b"refcount:2147483647 encoding:int serializedlength:2" in raw.execute_command("DEBUG", "OBJECT", "n")
    with pytest.raises(redis.ResponseError, match="no such key"):
        raw.execute_command("DEBUG", "OBJECT", "nokey")
    d = raw.execute_command("DEBUG", "DIGEST")
    assert len(d) == 40 and d != b"0" * 40
    vals = raw.execute_command("DEBUG", "DIGEST-VALUE", "key:7", "nokey")
    assert vals[1] == b"0" * 40 and vals[0] != vals[1]


def test_debug_errors_and_misc(r, raw):
    with pytest.raises(redis.ResponseError, match="unknown subcommand or wrong number of arguments for 'nope'"):
        raw.execute_command("DEBUG", "nope")
    assert len(raw.execute_command("DEBUG", "HELP")) > 5
    assert raw.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0") == b"OK"
    assert raw.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1") == b"OK"
    t0 = time.time()
    assert raw.execute_command("DEBUG", "SLEEP", "0.1") == b"OK"
    assert time.time() - t0 >= 0.09


def test_debug_disabled(start_server):
    srv = start_server(enable_debug_command="no")
    c = srv.client()
    with pytest.raises(redis.ResponseError, match="DEBUG command not allowed"):
        c.execute_command("DEBUG", "DIGEST")
    srv2 = start_server(enable_debug_command="local")
    assert srv2.client().execute_command("DEBUG", "DIGEST") == b"0" * 40


DATASET = [
    (0, "a", "1", None),
    (0, "b", "hello", None),
    (0, "c", "v", 100),
    (0, "bigint", "12345678901", None),
    (0, "neg", "-42", 5000),
    (0, "long", "z" * 100, None),
    (3, "x", "in db 3", None),
    (3, "y", "7", None),
]


COLLECTION_KEYS = ["l", "bigl", "si", "ss", "h", "bigh", "z", "bigz"]


def load(client):
    for db, key, val, ttl in DATASET:
        client.execute_command("SELECT", db)
        client.set(key, val)
        if ttl:
            client.expire(key, ttl)
    client.execute_command("SELECT", 0)
    # Every type in both of its encodings; zset scores like 0.1 pin down the
    # score format Redis 7.0 digests ("%.17g").
    client.rpush("l", "a", "b", 1, 2, "c" * 100)
    client.rpush("bigl", *["e%d" % i for i in range(1000)])
    client.sadd("si", 1, 2, 3, 100)
    client.sadd("ss", "x", "y", "z", 7)
    client.hset("h", mapping={"f1": "v1", "f2": 2, "f3": "v3"})
    client.hset("bigh", mapping={"f%d" % i: "v" * 80 for i in range(20)})
    client.zadd("z", {"a": 0.1, "b": 2, "c": -1.5, "d": 3e10, "5": 5})
    client.zadd("bigz", {"m%d" % i: i * 0.1 for i in range(300)})
    client.expire("h", 1000)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_digest_matches_real_redis(r, tmp_path):
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path),
                             "--enable-debug-command", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        real = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            try:
                real.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        else:
            pytest.fail("redis-server did not start")
        mine = redis.Redis(host="127.0.0.1", port=r.connection_pool.connection_kwargs["port"])
        mine.flushall()
        load(real)
        load(mine)
        assert mine.execute_command("DEBUG", "DIGEST") == real.execute_command("DEBUG", "DIGEST")
        keys = ["a", "c", "long", "missing"] + COLLECTION_KEYS
        assert (mine.execute_command("DEBUG", "DIGEST-VALUE", *keys) ==
                real.execute_command("DEBUG", "DIGEST-VALUE", *keys))
        for key in ["b", "bigint", "long", "a"]:
            ser = lambda line: line.split(b"serializedlength:")[1].split()[0]
            assert ser(mine.execute_command("DEBUG", "OBJECT", key)) == ser(real.execute_command("DEBUG", "OBJECT", key))
        mine.close()
        real.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
