"""AOF write errors (issue 5): a full disk while writing.

The disk fills either through a file size limit set with prlimit on the
running server (writes fail with EFBIG) or through a small tmpfs holding
the data directory (ENOSPC). While the AOF cannot be written, write
commands get Redis's MISCONF error and reads go on; once space returns the
writes resume, and after a kill -9 every acknowledged write is there."""
import subprocess
import threading
import time

import pytest
import redis

from conftest import Server, prlimit_fsize, stop_and_check

MISCONF = "MISCONF Errors writing to the AOF file"


def incr_sizes(datadir):
    d = datadir / "appendonlydir"
    return {p.name: p.stat().st_size for p in d.iterdir() if p.name.endswith(".incr.aof")}


class Writers:
    """Threads writing 1 KiB values on their own connections; each write is
    recorded as acknowledged or refused."""

    def __init__(self, server, n=4):
        self.server = server
        self.acked = {}
        self.refused = 0
        self.lock = threading.Lock()
        self.stop = False
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(n)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def run(self, wid):
        c = self.server.client(socket_timeout=60)
        n = 0
        while not self.stop:
            n += 1
            key = "w%d:%d" % (wid, n)
            value = ("%s:" % key) * (1024 // (len(key) + 1))
            try:
                c.set(key, value)
            except redis.ResponseError as e:
                assert str(e).startswith(MISCONF), str(e)
                with self.lock:
                    self.refused += 1
                time.sleep(0.01)
                continue
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                return
            with self.lock:
                self.acked[key] = value

    def finish(self):
        self.stop = True
        for t in self.threads:
            t.join(timeout=60)
            assert not t.is_alive(), "a writer is still blocked after space returned"


def wait_for(pred, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def check_refusing_then_resume(server, writers, make_room):
    c = server.client(socket_timeout=10)
    c.set("before", "x")
    # INFO sums what the shards last reported (every 100 ms). With
    # appendfsync always the writers whose write failed wait for their
    # replies (not acknowledged); new writes are refused.
    wait_for(lambda: c.info("persistence")["aof_last_write_status"] == "err", what="write status err")
    # reads go on, writes are refused with Redis's error
    assert c.get("before") == b"x"
    with pytest.raises(redis.ResponseError) as e:
        c.set("during", "x")
    assert str(e.value).startswith(MISCONF)
    make_room()
    wait_for(lambda: c.info("persistence")["aof_last_write_status"] == "ok", what="write status ok")
    c.set("after", "y")
    n = len(writers.acked)
    wait_for(lambda: len(writers.acked) > n + 20, what="writes to resume")
    writers.finish()
    assert "AOF write error looks solved" in server.log_text()


@pytest.mark.smoke
@pytest.mark.parametrize("fsync", ["always", "everysec"])
def test_file_size_limit_refuses_writes_then_resumes(tmp_path, fsync):
    server = Server(tmp_path / "data", directives={"appendonly": "yes", "appendfsync": fsync, "save": '""'})
    server.start()
    try:
        c = server.client()
        for i in range(100):
            c.set("pre:%d" % i, "v%d" % i)
        limit = max(incr_sizes(server.dir).values()) + 64 * 1024
        prlimit_fsize(server.proc.pid, limit)
        writers = Writers(server).start()
        check_refusing_then_resume(server, writers,
                                   lambda: prlimit_fsize(server.proc.pid, "unlimited"))
        acked = dict(writers.acked)
        if fsync == "everysec":
            c.execute_command("WAITAOF", 1, 0, 0)
        server.kill()
        server.start()
        c = server.client()
        for i in range(100):
            assert c.get("pre:%d" % i) == ("v%d" % i).encode()
        pipe = c.pipeline(transaction=False)
        for k in acked:
            pipe.get(k)
        got = pipe.execute()
        lost = [k for k, g in zip(acked, got) if g != acked[k].encode()]
        assert not lost, "%d acknowledged writes lost, e.g. %r" % (len(lost), lost[:5])
        assert c.get("after") == b"y"
    finally:
        stop_and_check([server])


def test_small_tmpfs_refuses_writes_then_resumes(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip("cannot mount a tmpfs: " + res.stderr.strip())
    server = Server(mnt, directives={"appendonly": "yes", "appendfsync": "always", "save": '""'})
    try:
        server.start()
        writers = Writers(server).start()
        check_refusing_then_resume(
            server, writers,
            lambda: subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True))
        acked = dict(writers.acked)
        server.kill()
        server.start()
        c = server.client()
        pipe = c.pipeline(transaction=False)
        for k in acked:
            pipe.get(k)
        got = pipe.execute()
        lost = [k for k, g in zip(acked, got) if g != acked[k].encode()]
        assert not lost, "%d acknowledged writes lost, e.g. %r" % (len(lost), lost[:5])
    finally:
        stop_and_check([server])
        for _ in range(50):
            if subprocess.run(["umount", str(mnt)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
