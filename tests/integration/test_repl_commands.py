"""Replication's commands on the shards (issue 6): REPLICAOF, SLAVEOF, ROLE,
WAIT, REPLCONF, PSYNC, SYNC as Debian's real redis-server 7.0 describes and
answers them (COMMAND INFO / DOCS compared with a live redis-server when it
is installed), the hand-off of a replica's socket after PSYNC/SYNC, the
checks a replica or a master with min-replicas makes (READONLY, MASTERDOWN,
NOREPLICAS, EXECABORT for a queued write), and expiry on a replica (a key
past its TTL reads as missing but stays until the master's DEL).

The end-to-end tests need the replication thread and the replica link; they
skip only when the server does not know REPLICAOF at all."""
import re
import shutil
import socket
import subprocess
import time

import pytest
import redis

from conftest import RespConn, RespError, free_port

# The replication logic is backend-independent past the loop's socket
# hand-over, which test_repl_master.py and the loop's unit tests cover on epoll.
pytestmark = pytest.mark.once

REPL_COMMANDS = ("replicaof", "slaveof", "role", "wait", "replconf", "psync", "sync")

# Redis 7.0.15's COMMAND INFO, checked by hand against Debian's redis-server:
# name -> (arity, flags, acl categories, tips)
EXPECTED_INFO = {
    "replicaof": (3, {"admin", "noscript", "stale", "no_async_loading"}, {"@admin", "@slow", "@dangerous"}, set()),
    "slaveof": (3, {"admin", "noscript", "stale", "no_async_loading"}, {"@admin", "@slow", "@dangerous"}, set()),
    "role": (1, {"noscript", "loading", "stale", "fast"}, {"@admin", "@fast", "@dangerous"}, set()),
    "wait": (3, {"noscript"}, {"@slow", "@connection"},
             {"request_policy:all_shards", "response_policy:agg_min"}),
    "replconf": (-1, {"admin", "noscript", "loading", "stale", "allow_busy"}, {"@admin", "@slow", "@dangerous"}, set()),
    "psync": (-3, {"admin", "noscript", "no_async_loading", "no_multi"}, {"@admin", "@slow", "@dangerous"}, set()),
    "sync": (1, {"admin", "noscript", "no_async_loading", "no_multi"}, {"@admin", "@slow", "@dangerous"}, set()),
}
EXPECTED_DOCS = {
    "replicaof": ("Make the server a replica of another instance, or promote it as master.", "5.0.0", "server", "O(1)"),
    "slaveof": ("Make the server a replica of another instance, or promote it as master.", "1.0.0", "server", "O(1)"),
    "role": ("Return the role of the instance in the context of replication", "2.8.12", "server", "O(1)"),
    "wait": ("Wait for the synchronous replication of all the write commands sent in the context of the "
             "current connection", "3.0.0", "generic", "O(1)"),
    "replconf": ("An internal command for configuring the replication stream", "3.0.0", "server", "O(1)"),
    "psync": ("Internal command used for replication", "2.8.0", "server", None),
    "sync": ("Internal command used for replication", "1.0.0", "server", None),
}


def s(v):
    return v.decode() if isinstance(v, bytes) else v


def info_tuple(entry):
    """(arity, flags, categories, tips, first, last, step, keyspecs) of one COMMAND INFO entry."""
    return (entry[1], {s(f) for f in entry[2]}, {s(c) for c in entry[6]}, {s(t) for t in entry[7]},
            entry[3], entry[4], entry[5], entry[8])


def command_info(conn, name):
    (entry,) = conn.call("COMMAND", "INFO", name)
    return entry


def command_docs(conn, name):
    reply = conn.call("COMMAND", "DOCS", name)
    # RESP2: [name, [field, value, ...]]
    fields = reply[1]
    return {s(fields[i]): fields[i + 1] for i in range(0, len(fields), 2)}


@pytest.fixture(scope="module")
def real_redis(tmp_path_factory):
    """Debian's redis-server 7.0 on a free port, or None when not installed."""
    binary = shutil.which("redis-server")
    if not binary:
        yield None
        return
    d = tmp_path_factory.mktemp("real-redis")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(d)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    yield ("127.0.0.1", port)
    proc.terminate()
    proc.wait(timeout=10)


def repl_available(conn):
    """The replication commands are built (else end-to-end tests skip)."""
    reply = conn.call("COMMAND", "INFO", "replicaof")
    return reply and reply[0] is not None


# ---- what runs without a replica ----------------------------------------------------


@pytest.mark.parametrize("name", REPL_COMMANDS)
def test_command_info_as_redis(ringkv, real_redis, name):
    with ringkv.raw() as c:
        ours = info_tuple(command_info(c, name))
    arity, flags, cats, tips = EXPECTED_INFO[name]
    assert ours[:4] == (arity, flags, cats, tips)
    assert ours[4:] == (0, 0, 0, [])  # no keys
    if real_redis:
        with RespConn(*real_redis) as rc:
            theirs = info_tuple(command_info(rc, name))
        assert ours[:3] == theirs[:3] and ours[3] == theirs[3] and ours[4:7] == theirs[4:7]


@pytest.mark.parametrize("name", REPL_COMMANDS)
def test_command_docs_as_redis(ringkv, name):
    with ringkv.raw() as c:
        docs = command_docs(c, name)
    summary, since, group, complexity = EXPECTED_DOCS[name]
    assert s(docs["summary"]) == summary
    assert s(docs["since"]) == since
    assert s(docs["group"]) == group
    assert s(docs.get("complexity")) == complexity


def test_failover_is_not_built(ringkv):
    with ringkv.raw() as c:
        assert c.call("COMMAND", "INFO", "failover") == [None]
        reply = c.send("FAILOVER") or c.read()
        assert isinstance(reply, RespError) and reply.args[0].startswith("ERR unknown command 'FAILOVER'")


REPLCONF_CASES = [
    ("REPLCONF",),
    ("REPLCONF", "a"),
    ("REPLCONF", "listening-port", "x"),
    ("REPLCONF", "listening-port", "6380"),
    ("REPLCONF", "listening-port", "6380", "capa"),
    ("REPLCONF", "rdb-only", "2"),
    ("REPLCONF", "rdb-only", "x"),
    ("REPLCONF", "rdb-only", "1"),
    ("REPLCONF", "rdb-filter-only", "foo"),
    ("REPLCONF", "rdb-filter-only", "functions"),
    ("REPLCONF", "rdb-filter-only", ""),
    ("REPLCONF", "foo", "bar"),
    ("REPLCONF", "capa", "eof", "capa", "psync2", "capa", "zzz"),
    ("REPLCONF", "ip-address", "10.1.2.3"),
    ("REPLCONF", "ip-address", "a" * 255),
    ("REPLCONF", "ip-address", "a" * 256),
    ("REPLCONF", "listening-port", "1", "bogus", "x"),
]


def replconf_replies(conn):
    out = []
    for args in REPLCONF_CASES:
        reply = conn.send(*args) or conn.read()
        out.append(str(reply) if isinstance(reply, RespError) else reply)
    # ACK and GETACK from a client answer nothing: the next reply is PING's.
    conn.send("REPLCONF", "ACK", "10")
    conn.send("REPLCONF", "GETACK", "*")
    conn.send("REPLCONF", "listening-port", "7000", "ack", "5")
    out.append(conn.call("PING"))
    return out


def test_replconf_replies(ringkv, real_redis):
    with ringkv.raw() as c:
        ours = replconf_replies(c)
    assert ours[0] == "OK"
    assert ours[1] == "ERR syntax error"
    assert ours[2] == "ERR value is not an integer or out of range"
    assert ours[5] == "ERR value is out of range, value must between 0 and 1"
    assert ours[8] == "ERR Unsupported rdb-filter-only option: foo"
    assert ours[11] == "ERR Unrecognized REPLCONF option: foo"
    assert ours[15] == "ERR REPLCONF ip-address provided by replica instance is too long: 256 bytes"
    assert ours[-1] == "PONG"
    if real_redis:
        with RespConn(*real_redis) as rc:
            assert ours == replconf_replies(rc)


@pytest.mark.parametrize("cmd", [("PSYNC", "?", "-1"), ("SYNC",)])
def test_sync_refused_inside_multi(ringkv, cmd):
    with ringkv.raw() as c:
        assert c.call("MULTI") == "OK"
        reply = c.send(*cmd) or c.read()
        assert str(reply) == "ERR Command not allowed inside a transaction"
        reply = c.send("EXEC") or c.read()
        assert str(reply) == "EXECABORT Transaction discarded because of previous errors."
        assert c.call("PING") == "PONG"


def test_psync_bad_offset(ringkv, real_redis):
    expected = "ERR value is not an integer or out of range"
    with ringkv.raw() as c:
        reply = c.send("PSYNC", "?", "x") or c.read()
        assert str(reply) == expected
        assert c.call("PING") == "PONG"  # the connection stays a client
    if real_redis:
        with RespConn(*real_redis) as rc:
            assert str(rc.send("PSYNC", "?", "x") or rc.read()) == expected


def test_psync_failover_on_a_master(ringkv, real_redis):
    expected = "ERR PSYNC FAILOVER can't be sent to a master."
    with ringkv.raw() as c:
        assert str(c.send("PSYNC", "?", "-1", "FAILOVER") or c.read()) == expected
    if real_redis:
        with RespConn(*real_redis) as rc:
            assert str(rc.send("PSYNC", "?", "-1", "FAILOVER") or rc.read()) == expected


@pytest.mark.parametrize("port", ["x", "-1", "65536", "1.5"])
def test_replicaof_bad_port(ringkv, real_redis, port):
    with ringkv.raw() as c:
        for name in ("REPLICAOF", "SLAVEOF"):
            assert str(c.send(name, "127.0.0.1", port) or c.read()) == "ERR Invalid master port"
        assert c.call("ROLE")[0] == b"master"
    if real_redis:
        with RespConn(*real_redis) as rc:
            assert str(rc.send("REPLICAOF", "127.0.0.1", port) or rc.read()) == "ERR Invalid master port"


def test_wait_errors_and_no_replicas(ringkv, real_redis):
    cases = [("WAIT", "0", "0"), ("WAIT", "x", "0"), ("WAIT", "0", "-1"), ("WAIT", "0", "x"),
             ("WAIT", "1", "50")]
    with ringkv.raw() as c:
        ours = [str(r) if isinstance(r, RespError) else r for r in (c.send(*a) or c.read() for a in cases)]
    assert ours == [0, "ERR value is not an integer or out of range", "ERR timeout is negative",
                    "ERR timeout is not an integer or out of range", 0]
    if real_redis:
        with RespConn(*real_redis) as rc:
            theirs = [str(r) if isinstance(r, RespError) else r for r in (rc.send(*a) or rc.read() for a in cases)]
        assert ours == theirs


def test_wait_inside_multi_does_not_block(ringkv):
    with ringkv.raw(timeout=5) as c:
        assert c.call("MULTI") == "OK"
        assert c.call("SET", "wk", "1") == "QUEUED"
        assert c.call("WAIT", "5", "0") == "QUEUED"  # 0: forever, outside MULTI
        assert c.call("EXEC") == ["OK", 0]


def test_role_and_info_of_a_master(ringkv):
    with ringkv.raw() as c:
        role = c.call("ROLE")
        assert role[0] == b"master" and isinstance(role[1], int) and role[2] == []
        text = c.call("INFO", "replication").decode()
    lines = [line for line in text.split("\r\n") if line and not line.startswith("#")]
    names = [line.split(":", 1)[0] for line in lines]
    assert names == ["role", "connected_slaves", "master_failover_state", "master_replid", "master_replid2",
                     "master_repl_offset", "second_repl_offset", "repl_backlog_active", "repl_backlog_size",
                     "repl_backlog_first_byte_offset", "repl_backlog_histlen"]
    fields = dict(line.split(":", 1) for line in lines)
    assert fields["role"] == "master"
    assert re.fullmatch(r"[0-9a-f]{40}", fields["master_replid"])
    with ringkv.raw() as c:
        stats = c.call("INFO", "stats").decode()
    for name in ("sync_full", "sync_partial_ok", "sync_partial_err"):
        assert re.search(r"\r\n%s:\d+\r\n" % name, stats), name
    # The default INFO holds both, in Redis's places.
    with ringkv.raw() as c:
        everything = c.call("INFO").decode()
    assert everything.index("rejected_connections:") < everything.index("sync_full:") < \
        everything.index("expired_keys:")
    assert "# Replication\r\nrole:master\r\n" in everything


def test_config_set_reaches_the_replication_thread(ringkv):
    with ringkv.raw() as c:
        assert c.call("CONFIG", "SET", "repl-backlog-size", "2mb") == "OK"
        try:
            deadline = time.monotonic() + 5
            while True:
                text = c.call("INFO", "replication").decode()
                if "repl_backlog_size:2097152\r\n" in text:
                    break
                assert time.monotonic() < deadline, text
                time.sleep(0.05)
        finally:
            c.call("CONFIG", "SET", "repl-backlog-size", "1mb")


# ---- the hand-off ------------------------------------------------------------------


def read_line(conn):
    # A master may send bare "\n" keep-alives before its answer.
    return conn.read_line().decode(errors="replace").lstrip("\n")


def test_psync_hands_the_socket_over(start_server):
    srv = start_server(**{"repl-diskless-sync": "no"})
    with srv.raw() as c:
        if not repl_available(c):
            pytest.skip("no replication")
        assert c.call("REPLCONF", "listening-port", "1") == "OK"
        assert c.call("REPLCONF", "capa", "eof", "capa", "psync2") == "OK"
        # Pipelined: PING's reply leaves before the socket does.
        c.send_raw(RespConn.encode("PING") + RespConn.encode("PSYNC", "?", "-1"))
        assert read_line(c) == "+PONG"
        line = read_line(c)
        while line == "":  # keep-alive newlines before the payload
            line = read_line(c)
        assert re.fullmatch(r"\+FULLRESYNC [0-9a-f]{40} \d+", line), line
    with srv.raw() as c:
        stats = c.call("INFO", "stats").decode()
        assert "sync_full:1\r\n" in stats
    assert "Replica 127.0.0.1:1 asks for synchronization" in srv.log_text()


def test_sync_on_a_replica_without_link(start_server):
    dead = free_port()
    srv = start_server(replicaof="127.0.0.1 %d" % dead)
    with srv.raw() as c:
        if not repl_available(c):
            pytest.skip("no replication")
        for cmd in (("PSYNC", "?", "-1"), ("SYNC",)):
            reply = c.send(*cmd) or c.read()
            assert str(reply) == "NOMASTERLINK Can't SYNC while not connected with my master"
        assert c.call("PING") == "PONG"


# ---- a replica's checks, end to end -----------------------------------------------------


def wait_for(pred, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def link_up(replica):
    return replica.info("replication").get("master_link_status") == "up"


@pytest.fixture
def pair(start_server):
    """A ringkv master and a ringkv replica of it, synced."""
    master = start_server(**{"repl-diskless-sync-delay": "0"})
    m = master.client()
    if not repl_available(master.raw()):
        pytest.skip("no replication")
    replica = start_server(replicaof="127.0.0.1 %d" % master.port)
    r = replica.client()
    wait_for(lambda: link_up(r), what="the replica's link")
    return master, replica, m, r


def test_readonly_replica(pair):
    master, replica, m, r = pair
    m.set("a", "1")
    wait_for(lambda: r.get("a") == b"1", what="a on the replica")
    # redis-py turns -READONLY into ReadOnlyError and drops the prefix;
    # the raw reply is checked below.
    with pytest.raises(redis.exceptions.ReadOnlyError, match="^You can't write against a read only replica.$"):
        r.set("a", "2")
    with replica.raw() as c:
        assert str(c.send("SET", "a", "2") or c.read()) == "READONLY You can't write against a read only replica."
    with replica.raw() as c:
        assert c.call("MULTI") == "OK"
        assert str(c.send("SET", "a", "3") or c.read()) == "READONLY You can't write against a read only replica."
        assert c.call("GET", "a") == "QUEUED"
        assert str(c.send("EXEC") or c.read()) == "EXECABORT Transaction discarded because of previous errors."
        # Reads and connection commands still run.
        assert c.call("GET", "a") == b"1"
        assert c.call("ROLE")[0] == b"slave"
    r.config_set("replica-read-only", "no")
    assert r.set("local", "x")
    r.config_set("replica-read-only", "yes")
    assert r.info("replication")["role"] == "slave"


def connect_when_up(server, timeout=10.0):
    """A raw connection once the server accepts one (for a server started
    with wait=False, whose PING the fixture cannot wait on)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return server.raw()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_masterdown_without_stale_data(start_server):
    dead = free_port()
    # PING is not flagged stale: Redis 7.0 answers it MASTERDOWN too, so the
    # fixture's PING wait cannot be used.
    replica = start_server(replicaof="127.0.0.1 %d" % dead, wait=False, **{"replica-serve-stale-data": "no"})
    with connect_when_up(replica) as c:
        if not repl_available(c):
            pytest.skip("no replication")
        msg = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
        assert str(c.send("GET", "a") or c.read()) == msg
        assert str(c.send("DBSIZE") or c.read()) == msg
        assert str(c.send("PING") or c.read()) == msg
        # Commands flagged stale still run.
        assert c.call("ECHO", "x") == b"x"
        assert c.call("INFO", "replication").decode().startswith("# Replication\r\nrole:slave\r\n")
        assert c.call("CONFIG", "SET", "replica-serve-stale-data", "yes") == "OK"
        assert c.call("GET", "a") is None
        assert c.call("REPLICAOF", "NO", "ONE") == "OK"
        assert c.call("SET", "a", "1") == "OK"


def test_noreplicas(start_server):
    master = start_server(**{"min-replicas-to-write": "1", "repl-diskless-sync-delay": "0"})
    m = master.client()
    if not repl_available(master.raw()):
        pytest.skip("no replication")
    with pytest.raises(redis.ResponseError, match="^NOREPLICAS Not enough good replicas to write.$"):
        m.set("a", "1")
    assert m.get("a") is None  # reads are not refused
    with master.raw() as c:
        assert c.call("MULTI") == "OK"
        assert str(c.send("SET", "a", "1") or c.read()) == "NOREPLICAS Not enough good replicas to write."
        assert str(c.send("EXEC") or c.read()) == "EXECABORT Transaction discarded because of previous errors."
    replica = start_server(replicaof="127.0.0.1 %d" % master.port)
    r = replica.client()
    wait_for(lambda: link_up(r), what="the replica's link")

    def writable():
        try:
            return m.set("a", "1")
        except redis.ResponseError:
            return False
    wait_for(writable, what="enough good replicas")
    wait_for(lambda: r.get("a") == b"1", what="a on the replica")
    # min-replicas-max-lag 0 turns the check off, as Redis.
    m.config_set("min-replicas-to-write", "5")
    m.config_set("min-replicas-max-lag", "0")
    assert m.set("b", "1")


def test_exec_refused_when_the_role_changed(start_server):
    """A transaction queued on a master is judged again at EXEC: once the
    server became a replica its write is refused and the whole EXEC aborts
    (Redis's execCommandAbort)."""
    srv = start_server()
    with srv.raw() as c, srv.raw() as admin:
        if not repl_available(c):
            pytest.skip("no replication")
        assert c.call("MULTI") == "OK"
        assert c.call("SET", "x", "1") == "QUEUED"
        assert admin.call("REPLICAOF", "127.0.0.1", str(free_port())) == "OK"
        wait_for(lambda: admin.call("ROLE")[0] == b"slave", what="the role")
        reply = c.send("EXEC") or c.read()
        assert str(reply) == ("EXECABORT Transaction discarded because of: "
                              "READONLY You can't write against a read only replica.")
        assert c.call("GET", "x") is None
        assert admin.call("REPLICAOF", "NO", "ONE") == "OK"


def test_replica_keeps_expired_keys_until_the_masters_del(pair):
    master, replica, m, r = pair
    m.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")  # the master deletes only when asked
    try:
        keys = ["exp%d" % i for i in range(20)]  # over both shards
        for k in keys:
            m.set(k, "v", px=300)
        m.set("live", "1")
        wait_for(lambda: r.dbsize() == 21, what="the keys on the replica")
        time.sleep(0.5)
        # Past their TTL: missing to readers, but still there.
        for k in keys:
            assert r.get(k) is None
            assert r.exists(k) == 0
            assert r.ttl(k) == -2
        assert r.dbsize() == 21
        time.sleep(1.2)  # active expiry would have run by now on a master
        assert r.dbsize() == 21
        assert r.get("live") == b"1"
        # The master's lookups expire them and replicate the DELs.
        for k in keys:
            assert m.get(k) is None
        wait_for(lambda: r.dbsize() == 1, what="the master's DELs")
    finally:
        m.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
