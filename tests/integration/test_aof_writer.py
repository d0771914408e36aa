"""The per-shard AOF segment writer end to end (issue 5): group commit with
many clients under appendfsync always, multi-shard transactions framed on
every participant (#B/#E in each shard's segment) and durable before they
are acknowledged, and the #TS annotation."""
import re
import socket
import threading
import time

from conftest import Server, stop_and_check


def restart(server):
    """kill -9, then start again on the same port once the kernel let go of
    it (a killed io_uring process releases its listening socket a little
    later)."""
    server.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", server.port))
            break
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    server.start()


def incr_files(datadir):
    d = datadir / "appendonlydir"
    return sorted(p for p in d.iterdir() if p.name.endswith(".incr.aof"))


def test_group_commit_many_clients_always(tmp_path):
    server = Server(tmp_path / "data", directives={"appendonly": "yes", "appendfsync": "always",
                                                   "save": '""', "shards": "4"})
    server.start()
    try:
        acked = {}
        lock = threading.Lock()

        def worker(wid):
            c = server.client(socket_timeout=30)
            for n in range(200):
                if n % 10 == 0:
                    kv = {"m%d:%d:%d" % (wid, n, i): "v%d" % i for i in range(4)}
                    c.mset(kv)
                    with lock:
                        acked.update(kv)
                else:
                    k = "k%d:%d" % (wid, n)
                    c.set(k, k)
                    with lock:
                        acked[k] = k

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        c = server.client()
        assert c.info("persistence")["aof_delayed_fsync"] == 0
        # Every multi-shard frame is complete on each participant's segment.
        for f in incr_files(server.dir):
            data = f.read_bytes()
            begins = re.findall(rb"#B (\d+) ([0-9a-f]+)\r\n", data)
            ends = re.findall(rb"#E (\d+)\r\n", data)
            assert [b[0] for b in begins] == ends, f.name
        restart(server)
        c = server.client()
        keys = list(acked)
        got = c.mget(keys)
        lost = [k for k, g in zip(keys, got) if g != acked[k].encode()]
        assert not lost, "%d acknowledged writes lost, e.g. %r" % (len(lost), lost[:5])
    finally:
        stop_and_check([server])


def test_timestamp_annotations(tmp_path):
    server = Server(tmp_path / "data", directives={"appendonly": "yes", "appendfsync": "always",
                                                   "aof-timestamp-enabled": "yes", "save": '""'})
    server.start()
    try:
        c = server.client()
        for i in range(50):
            c.set("t%d" % i, i)
        data = b"".join(f.read_bytes() for f in incr_files(server.dir))
        assert re.search(rb"#TS:\d{10}\r\n", data)
        restart(server)
        c = server.client()
        assert c.get("t49") == b"49"
    finally:
        stop_and_check([server])
