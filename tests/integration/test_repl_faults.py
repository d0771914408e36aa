"""Replication faults (issue 6, "Interop and faults"): each test breaks a
master-replica pair (both ringkv, 2 shards) in one way, asserts the log line
that says what happened and the final state: a replica that converges
(offsets and DEBUG DIGEST equal) or says why it cannot.

  - kill -9 of the master during a full sync (DEBUG POPULATE data, the
    transfer held half-way by the proxy) and during streaming: the replica
    logs the lost link, keeps serving its (stale) data read-only, and
    converges when a master is back on that port;
  - a replica slower than the stream (proxy paused, small
    client-output-buffer-limit replica): the master drops it with Redis's
    "overcoming of output buffer limits" line, and it resyncs once the
    proxy resumes;
  - a wrong masterauth: the replica logs the AUTH error and keeps retrying;
    CONFIG SET masterauth fixes it;
  - a corrupt stream (garbage injected master -> replica): the replica logs a
    protocol error, drops the link, reconnects and converges.

RINGKV_REPL_SELFTEST=redis runs them with redis-server in ringkv's place.
"""

import re
import threading
import time

import pytest
import redis

from conftest import (kill9, link_up, log_size, mixed_writes, node_client, repl_info, repl_stats,
                      replicaof, wait_converged, wait_link_up, wait_log, wait_until)
from tcpproxy import TcpProxy

# The replication logic is backend-independent past the loop's socket
# hand-over, which test_repl_master.py and the loop's unit tests cover on epoll.
pytestmark = pytest.mark.once

# Redis 7.0.15's log lines (replication.c, networking.c); ringkv logs the same.
LOG_MASTER_LOST = r"Connection with master lost"
LOG_SYNC_IO_ERROR = r"I/O error trying to sync with MASTER"
LOG_OBUF_DROP = r"scheduled to be closed ASAP for overcoming of output buffer limits"
LOG_AUTH_FAILED = r"Unable to AUTH to MASTER: -?WRONGPASS"
LOG_PROTOCOL_ERROR = r"Protocol error"
READONLY = "You can't write against a read only replica."


def stale_reads(replica, expect_keys):
    """The replica with its link down still answers reads from its data and
    refuses writes (replica-serve-stale-data yes, replica-read-only yes)."""
    info = repl_info(replica)
    assert info["role"] == "slave" and info["master_link_status"] == "down", info
    c = node_client(replica)
    try:
        assert c.ping() is True
        assert c.dbsize() == expect_keys
        keys = c.scan(0, count=100)[1]
        assert keys
        for key in keys[:10]:
            assert c.type(key) != b"none", key
        with pytest.raises(redis.ResponseError, match=re.escape(READONLY)):
            c.set("write:on:replica", "x")
    finally:
        c.close()


def dbsize(node):
    c = node_client(node)
    try:
        return c.dbsize()
    finally:
        c.close()


@pytest.mark.slow
def test_kill_master_during_full_sync(repl_node):
    m = repl_node("ringkv")
    r = repl_node("ringkv")
    c = node_client(m)
    c.execute_command("DEBUG", "POPULATE", 200_000, "big", 64)
    c.close()
    # the replica's own data, which it must keep serving until a sync completes
    mixed_writes(r, 2000, seed=21, prefix="stale", short_ttl=False)
    stale = dbsize(r)
    assert stale > 0

    with TcpProxy(m.port) as proxy:
        # let the handshake and 1 MB of the snapshot through, then hold it
        proxy.pause("down", after=1 << 20)
        mark = log_size(r)
        replicaof(r, "127.0.0.1", proxy.port)
        proxy.wait_held("down", timeout=60)
        wait_until(lambda: repl_info(r).get("master_sync_in_progress") == 1, 30,
                   lambda: "the replica is receiving the snapshot: %r" % repl_info(r))
        kill9(m)
        proxy.resume()
        wait_log(r, LOG_SYNC_IO_ERROR + "|" + LOG_MASTER_LOST, start=mark)
        wait_until(lambda: not repl_info(r).get("master_sync_in_progress"), 30,
                   lambda: "the replica gave the transfer up: %r" % repl_info(r))
        stale_reads(r, stale)

        # a master comes back on the same port (empty: it saved nothing)
        m.start()
        mixed_writes(m, 3000, seed=22, prefix="back")
        wait_link_up(r)
        wait_converged(m, [r])
        assert dbsize(r) == dbsize(m)


class Writer(threading.Thread):
    """Pipelines of SETs against a node until stopped or the node is gone."""

    def __init__(self, node):
        super().__init__(daemon=True)
        self.node = node
        self.halt = threading.Event()
        self.sent = 0
        self.error = None

    def run(self):
        c = node_client(self.node, socket_timeout=5)
        i = 0
        try:
            while not self.halt.is_set():
                p = c.pipeline(transaction=False)
                for _ in range(200):
                    p.set("stream:%d" % (i % 50_000), "v" * (i % 200))
                    i += 1
                p.execute()
                self.sent = i
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            self.error = e
        finally:
            c.close()

    def stop(self):
        self.halt.set()
        self.join(30)
        assert not self.is_alive()


@pytest.mark.slow
def test_kill_master_during_streaming(repl_node):
    m = repl_node("ringkv")
    r = repl_node("ringkv")
    mixed_writes(m, 2000, seed=31, prefix="pre", short_ttl=False)
    replicaof(r, "127.0.0.1", m.port)
    wait_link_up(r)
    wait_converged(m, [r])

    base = repl_info(r)["slave_repl_offset"]
    mark = log_size(r)
    writer = Writer(m)
    writer.start()
    try:
        # the stream is flowing: the replica applied 1 MB of it
        wait_until(lambda: repl_info(r)["slave_repl_offset"] > base + (1 << 20), 60,
                   lambda: "the replica follows the stream: %r" % repl_info(r))
        kill9(m)
    finally:
        writer.stop()
    wait_log(r, LOG_MASTER_LOST, start=mark)
    wait_until(lambda: not link_up(r), 30, lambda: "link down: %r" % repl_info(r))
    kept = dbsize(r)
    assert kept > 0
    stale_reads(r, kept)

    m.start()
    mixed_writes(m, 3000, seed=32, prefix="back")
    wait_link_up(r)
    wait_converged(m, [r])


@pytest.mark.slow
def test_slow_replica_dropped_and_resynced(repl_node):
    m = repl_node("ringkv")
    r = repl_node("ringkv")
    c = node_client(m)
    assert c.config_set("client-output-buffer-limit", "replica 1mb 0 0")
    c.close()
    mixed_writes(m, 2000, seed=41, prefix="pre", short_ttl=False)

    with TcpProxy(m.port) as proxy:
        replicaof(r, "127.0.0.1", proxy.port)
        wait_link_up(r)
        wait_converged(m, [r])
        full0, ok0, _ = repl_stats(m)

        # the replica stops reading: the proxy holds 2 x 256 KB, the
        # master's socket a few MB, the rest must go to its output buffer
        mark = log_size(m)
        proxy.pause("down")
        c = node_client(m)
        big = b"x" * 100_000
        for batch in range(4):
            p = c.pipeline(transaction=False)
            for i in range(50):
                p.set("big:%d:%d" % (batch, i), big)
            p.execute()
        c.close()
        wait_log(m, LOG_OBUF_DROP, start=mark)
        wait_until(lambda: repl_info(m)["connected_slaves"] == 0, 30,
                   lambda: "the master dropped the replica: %r" % repl_info(m))

        proxy.resume()
        wait_link_up(r)
        wait_converged(m, [r])
        full1, ok1, _ = repl_stats(m)
        assert full1 + ok1 == full0 + ok0 + 1, (full0, ok0, full1, ok1)


@pytest.mark.slow
def test_wrong_masterauth_then_fixed(repl_node):
    m = repl_node("ringkv", requirepass="s3cret")
    m.password = "s3cret"
    r = repl_node("ringkv", masterauth="wrong")
    mixed_writes(m, 2000, seed=51, prefix="pre", short_ttl=False)

    mark = log_size(r)
    replicaof(r, "127.0.0.1", m.port)
    # it keeps retrying: the refusal is logged again and again
    wait_until(lambda: len(re.findall(LOG_AUTH_FAILED, r.log_text()[mark:])) >= 2, 30,
               lambda: "two AUTH failures logged; log tail:\n%s" % r.log_text()[-3000:])
    info = repl_info(r)
    assert info["role"] == "slave" and info["master_link_status"] == "down", info
    assert dbsize(r) == 0

    c = node_client(r)
    assert c.config_set("masterauth", "s3cret")
    c.close()
    wait_link_up(r)
    wait_converged(m, [r])
    assert dbsize(r) == dbsize(m) > 0


@pytest.mark.slow
def test_corrupt_stream_reconnects(repl_node):
    m = repl_node("ringkv")
    r = repl_node("ringkv")
    mixed_writes(m, 2000, seed=61, prefix="pre", short_ttl=False)

    with TcpProxy(m.port) as proxy:
        replicaof(r, "127.0.0.1", proxy.port)
        wait_link_up(r)
        mixed_writes(m, 5000, seed=62)
        wait_converged(m, [r])
        accepted = proxy.stats()["accepted"]

        # between two commands (the stream is idle: converged), a line no
        # RESP parser accepts
        mark = log_size(r)
        assert proxy.inject(b"*x\r\n") == 1
        wait_log(r, LOG_PROTOCOL_ERROR, start=mark)
        wait_log(r, LOG_MASTER_LOST, start=mark)
        wait_until(lambda: proxy.stats()["accepted"] > accepted, 30,
                   lambda: "the replica reconnected: %r" % proxy.stats())
        wait_link_up(r)
        mixed_writes(m, 5000, seed=63)
        wait_converged(m, [r])


@pytest.mark.once
def test_tcpproxy_controls():
    """The proxy itself, against a local echo server: forwarding, pause
    (at once and after N bytes), inject, cut refusing until restore, stats,
    and a close that joins every thread."""
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.1)
    halt = threading.Event()

    def echo_conn(conn):
        conn.settimeout(0.1)
        with conn:
            while not halt.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    def echo():
        while not halt.is_set():
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            threading.Thread(target=echo_conn, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=echo, daemon=True)
    acceptor.start()

    def recv_exact(sock, n):
        out = b""
        while len(out) < n:
            chunk = sock.recv(n - len(out))
            assert chunk, "closed after %r" % out
            out += chunk
        return out

    proxy = TcpProxy(srv.getsockname()[1]).start()
    try:
        c = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        c.sendall(b"hello")
        assert recv_exact(c, 5) == b"hello"
        proxy.wait_live(1)

        proxy.pause("down")
        c.sendall(b"0123456789")
        c.settimeout(0.3)
        with pytest.raises(socket.timeout):
            c.recv(10)
        c.settimeout(5)
        proxy.resume()
        assert recv_exact(c, 10) == b"0123456789"

        proxy.pause("down", after=4)
        c.sendall(b"abcdefgh")
        proxy.wait_held("down")
        assert recv_exact(c, 4) == b"abcd"
        proxy.resume("down")
        assert recv_exact(c, 4) == b"efgh"

        assert proxy.inject(b"GARBAGE") == 1
        assert recv_exact(c, 7) == b"GARBAGE"
        st = proxy.stats()
        assert (st["up"], st["down"], st["accepted"], st["live"]) == (23, 23, 1, 1), st

        proxy.cut()
        c.settimeout(5)
        assert c.recv(10) == b""
        c.close()
        refused = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        assert refused.recv(10) == b""
        refused.close()
        wait_until(lambda: proxy.stats()["refused"] == 1, 5, lambda: "refused: %r" % proxy.stats())

        proxy.restore()
        c = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        c.sendall(b"again")
        assert recv_exact(c, 5) == b"again"
        c.close()
    finally:
        proxy.close()
        halt.set()
        acceptor.join(5)
        srv.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("tcpproxy")]
