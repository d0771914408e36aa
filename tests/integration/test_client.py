"""CLIENT subcommands, DEBUG SEGFAULT's crash report, and CLIENT PAUSE
across shards."""

import socket
import threading
import time

import pytest
import redis

from conftest import keys_on_shard


def test_client_id_setname_getname_info(r):
    cid = r.client_id()
    assert cid > 0
    assert r.client_getname() is None
    assert r.client_setname("worker-1")
    assert r.execute_command("CLIENT", "GETNAME") == b"worker-1"
    info = r.execute_command("CLIENT", "INFO").decode()
    assert f"id={cid} " in info and "name=worker-1 " in info and "db=0 " in info
    with pytest.raises(redis.ResponseError,
                       match="Client names cannot contain spaces, newlines or special characters"):
        r.client_setname("bad name")
    assert r.client_setname("")
    assert r.client_getname() is None


def test_client_list_sees_clients_of_every_shard(ringkv, r):
    # Several connections land on both shards (SO_REUSEPORT spreads them).
    others = [ringkv.client() for _ in range(8)]
    ids = set()
    for i, c in enumerate(others):
        c.client_setname(f"c{i}")
        ids.add(c.client_id())
    listed = {int(entry["id"]) for entry in r.client_list()}
    assert ids <= listed
    assert r.client_id() in listed
    only = r.execute_command("CLIENT", "LIST", "ID", *sorted(ids)[:2]).decode().splitlines()
    assert len(only) == 2
    with pytest.raises(redis.ResponseError, match="Unknown client type 'bogus'"):
        r.execute_command("CLIENT", "LIST", "TYPE", "bogus")
    for c in others:
        c.close()


def test_client_kill_by_id_and_addr(ringkv, r):
    # Raw sockets: redis-py would silently reconnect a killed connection.
    with ringkv.raw() as victim:
        vid = victim.call("CLIENT", "ID")
        assert r.execute_command("CLIENT", "KILL", "ID", vid) == 1
        victim.sock.settimeout(5)
        assert victim.sock.recv(1) == b""   # closed by the server
    with ringkv.raw() as victim2:
        vid2 = victim2.call("CLIENT", "ID")
        addr = [e["addr"] for e in r.client_list() if int(e["id"]) == vid2][0]
        assert r.execute_command("CLIENT", "KILL", addr) == b"OK"
        victim2.sock.settimeout(5)
        assert victim2.sock.recv(1) == b""
    with pytest.raises(redis.ResponseError, match="No such client"):
        r.execute_command("CLIENT", "KILL", "1.2.3.4:5")
    # SKIPME yes by default: killing by our own id kills nobody.
    assert r.execute_command("CLIENT", "KILL", "ID", r.client_id()) == 0


def test_client_reply_off_skip_on(ringkv):
    with ringkv.raw() as c:
        c.send("CLIENT", "REPLY", "OFF")
        c.send("SET", "a", "1")
        c.send("CLIENT", "REPLY", "ON")
        assert c.read_line() == b"+OK"          # only ON answers
        c.send("CLIENT", "REPLY", "SKIP")
        c.send("GET", "a")                      # skipped
        c.send("GET", "a")
        assert c.read_line() == b"$1"
        assert c.read_line() == b"1"


def test_client_no_evict(r):
    assert r.execute_command("CLIENT", "NO-EVICT", "on") == b"OK"
    assert "e" in r.execute_command("CLIENT", "INFO").decode().split("flags=")[1].split()[0]
    assert r.execute_command("CLIENT", "NO-EVICT", "off") == b"OK"
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("CLIENT", "NO-EVICT", "maybe")


def test_client_pause_write_holds_writes_on_all_shards(ringkv, r):
    k0 = keys_on_shard(0, 1, "p0")[0]
    k1 = keys_on_shard(1, 1, "p1")[0]
    r.set(k0, "old")
    r.set(k1, "old")
    assert r.execute_command("CLIENT", "PAUSE", 400, "WRITE") == b"OK"
    other = ringkv.client()
    # Reads go on during a WRITE pause.
    assert other.get(k0) == b"old" and other.get(k1) == b"old"
    done = []

    def writer(key):
        c = ringkv.client()
        c.set(key, "new")
        done.append(time.monotonic())

    start = time.monotonic()
    threads = [threading.Thread(target=writer, args=(k,)) for k in (k0, k1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(done) == 2
    assert min(done) - start >= 0.3, "writes ran during CLIENT PAUSE WRITE"
    assert r.mget(k0, k1) == [b"new", b"new"]


def test_client_unpause_releases_early(ringkv, r):
    # Under PAUSE ALL, UNPAUSE itself would wait (as in Redis 7): use WRITE.
    assert r.execute_command("CLIENT", "PAUSE", 5000, "WRITE") == b"OK"
    start = time.monotonic()
    assert r.execute_command("CLIENT", "UNPAUSE") == b"OK"
    c = ringkv.client(socket_timeout=3)
    assert c.set("after-unpause", "1")
    assert time.monotonic() - start < 2


def test_client_help_and_unknown_subcommand(r):
    lines = r.execute_command("CLIENT", "HELP")
    assert lines[0].startswith(b"CLIENT <subcommand>")
    with pytest.raises(redis.ResponseError, match=r"unknown subcommand 'NOPE'. Try CLIENT HELP."):
        r.execute_command("CLIENT", "NOPE")


def test_crash_prints_stack_trace_to_log(start_server):
    srv = start_server()
    srv.expect_exit = True
    c = srv.client()
    with pytest.raises(redis.ConnectionError):
        c.execute_command("DEBUG", "SEGFAULT")
    assert srv.proc.wait(timeout=10) != 0
    log = srv.log_text()
    if "AddressSanitizer" in log:
        pytest.skip("sanitizer build reports the crash itself")
    assert "RINGKV BUG REPORT START" in log
    assert "STACK TRACE" in log
    assert "ringkv-server" in log  # symbolized frames of our binary


def test_maxclients_refuses_with_redis_error(start_server):
    srv = start_server(maxclients=3)
    kept, refusal = [], None
    for _ in range(5):  # the harness may hold a connection of its own
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        sock.settimeout(0.3)
        try:
            refusal = sock.recv(256)  # an accepted client hears nothing
        except socket.timeout:
            kept.append(sock)
            continue
        sock.close()
        break
    assert refusal == b"-ERR max number of clients reached\r\n"
    assert 1 <= len(kept) <= 3
    for sock in kept:
        sock.settimeout(5)
        sock.sendall(b"PING\r\n")
        assert sock.recv(64) == b"+PONG\r\n"
        sock.close()
