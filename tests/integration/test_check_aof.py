"""ringkv-check-aof against what Debian's redis-server 7.0.15 writes, judged
side by side with Debian's redis-check-aof:

- an appendonlydir (RDB base after BGREWRITEAOF, then an INCR file with
  writes, MULTI/EXEC, expires) is valid for both, with the same
  "AOF analyzed" lines;
- truncated and corrupted copies get the same verdict, exit code, ok_up_to,
  ok_up_to_line and diff from both tools;
- --export of the appendonlydir gives one AOF that redis-check-aof accepts
  and redis-server loads with the same DEBUG DIGEST;
- --fix cuts a truncated tail after "y" on stdin, keeps it after "n".

The tool is found next to the server binary (RINGKV_BIN's directory) unless
RINGKV_CHECK_AOF names it."""

import os
import re
import shutil
import subprocess
import time

import pytest
import redis

from conftest import free_port, server_bin

# Run once, in the io_uring stage (the marker is explained in pytest.ini).
pytestmark = pytest.mark.once

REDIS_SERVER = shutil.which("redis-server")
REDIS_CHECK_AOF = shutil.which("redis-check-aof")
MANIFEST = "appendonly.aof.manifest"


def tool_bin():
    path = os.environ.get("RINGKV_CHECK_AOF") or str(server_bin().parent / "ringkv-check-aof")
    if not os.path.exists(path):
        pytest.skip(f"{path} not built")
    return path


def run(cmd, stdin=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, input=stdin)
    return proc.returncode, proc.stdout + proc.stderr


def ours(*args, stdin=None):
    return run([tool_bin(), *map(str, args)], stdin)


def theirs(*args, stdin=None):
    return run([REDIS_CHECK_AOF, *map(str, args)], stdin)


def analyzed(out):
    """The "AOF analyzed" lines, with file names reduced to base names."""
    lines = re.findall(r"AOF analyzed: filename=(\S+), (size=\d+, ok_up_to=\d+, ok_up_to_line=\d+, diff=\d+)", out)
    return [(os.path.basename(f), rest) for f, rest in lines]


class RedisServer:
    def __init__(self, workdir, *args):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", "",
             "--enable-debug-command", "yes", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis(port=self.port, db=0)
        for _ in range(200):
            try:
                self.client.ping()
                return
            except redis.exceptions.BusyLoadingError:
                time.sleep(0.05)
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    raise RuntimeError("redis-server exited")
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def db(self, n):
        return redis.Redis(port=self.port, db=n)

    def digest(self):
        return self.client.execute_command("DEBUG", "DIGEST")

    def stop(self):
        try:
            self.client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass
        self.proc.wait(timeout=20)


def wait_rewrite(r):
    for _ in range(200):
        info = r.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return
        time.sleep(0.05)
    raise RuntimeError("rewrite did not finish")


def fill_before(r0, r1):
    r0.set("int", 12345)
    r0.set("embstr", "hello")
    r0.set("raw", "x" * 500)
    r0.set("bin", bytes(range(256)))
    r0.set("ttl", "v", px=10_000_000)
    r0.rpush("small-list", "a", "b", 1, 2)
    r0.rpush("big-list", *[f"element-{i}" for i in range(1000)])
    r0.sadd("intset", 1, 2, 3, 70000)
    r0.sadd("big-intset", *range(300))
    r0.sadd("ht-set", *[f"m{i}" for i in range(200)])
    r0.zadd("lp-zset", {"a": 1, "b": 2.5, "c": -3, "d": 0.1})
    r0.zadd("sl-zset", {f"m{i}": i / 3 for i in range(200)})
    r0.hset("lp-hash", mapping={"f1": "v1", "f2": 2})
    r0.hset("ht-hash", mapping={f"f{i}": f"v{i}" for i in range(300)})
    r0.expire("lp-hash", 100000)
    r1.set("db1-string", "v")
    r1.rpush("db1-list", "z")
    r1.expire("db1-list", 50000)


def fill_after(r0, r1):
    r0.incr("int")
    r0.append("embstr", " world")
    r0.lpush("small-list", "head")
    r0.srem("ht-set", "m1")
    r0.zincrby("sl-zset", 2, "m5")
    r0.hdel("ht-hash", "f7")
    r0.set("after", "x", ex=100000)
    r0.delete("raw")
    with r0.pipeline(transaction=True) as p:
        p.set("tx-a", 1)
        p.incrby("tx-a", 41)
        p.rpush("tx-list", "p", "q")
        p.execute()
    r1.set("db1-after", "y")
    r1.hset("db1-hash", mapping={"a": 1, "b": 2})
    for i in range(50):
        r0.set(f"tail:{i}", "v" * (i % 7))


@pytest.fixture(scope="module")
def redis_aofdir(tmp_path_factory):
    if not REDIS_SERVER or not REDIS_CHECK_AOF:
        pytest.skip("redis-server / redis-check-aof not installed")
    workdir = tmp_path_factory.mktemp("redis-aof")
    srv = RedisServer(workdir, "--appendonly", "yes", "--appendfsync", "always")
    try:
        fill_before(srv.client, srv.db(1))
        srv.client.bgrewriteaof()
        wait_rewrite(srv.client)
        fill_after(srv.client, srv.db(1))
        digest = srv.digest()
    finally:
        srv.stop()
    aofdir = workdir / "appendonlydir"
    assert (aofdir / MANIFEST).exists()
    return aofdir, digest


def incr_file(aofdir):
    names = re.findall(r"file (\S+) seq \d+ type i", (aofdir / MANIFEST).read_text())
    return aofdir / names[-1]


def copy_dir(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_redis_aofdir_is_valid_for_both(redis_aofdir):
    aofdir, _ = redis_aofdir
    rc, out = ours(aofdir / MANIFEST)
    rrc, rout = theirs(aofdir / MANIFEST)
    assert rc == 0 and rrc == 0, out + rout
    assert "Start to check BASE AOF (RDB format)." in out
    assert "RDB preamble is OK, proceeding with AOF tail..." in out
    assert "All AOF files and manifest are valid" in out
    assert analyzed(out) == analyzed(rout) and len(analyzed(out)) == 2, (out, rout)


def test_every_truncation_matches_redis_check_aof(redis_aofdir, tmp_path):
    aofdir, _ = redis_aofdir
    data = incr_file(aofdir).read_bytes()
    # Every byte of the first commands and of a stretch in the middle, and
    # about 200 cuts spread over the rest.
    cuts = sorted(set(list(range(1, 120)) + list(range(len(data) // 2, len(data) // 2 + 60))
                      + list(range(1, len(data), max(1, len(data) // 200)))))
    for cut in cuts:
        d = copy_dir(aofdir, tmp_path / f"cut{cut}")
        incr_file(d).write_bytes(data[:cut])
        rc, out = ours(d / MANIFEST)
        rrc, rout = theirs(d / MANIFEST)
        assert rc == rrc, (cut, out, rout)
        assert analyzed(out) == analyzed(rout), (cut, out, rout)
        if rc:
            assert "is not valid. Use the --fix option to try fixing it." in out
        shutil.rmtree(d)


def test_corruption_matches_redis_check_aof(redis_aofdir, tmp_path):
    aofdir, _ = redis_aofdir
    data = incr_file(aofdir).read_bytes()
    mid = len(data) // 2
    spots = {
        "star": data.index(b"*", mid),          # a command's first byte -> format error
        "dollar": data.index(b"$", mid),        # a bulk's prefix
        "cr": data.index(b"\r\n$", mid),        # the CR after a count or bulk
    }
    for name, at in spots.items():
        d = copy_dir(aofdir, tmp_path / name)
        bad = bytearray(data)
        bad[at] = ord("X")
        incr_file(d).write_bytes(bytes(bad))
        rc, out = ours(d / MANIFEST)
        rrc, rout = theirs(d / MANIFEST)
        assert rc == rrc == 1, (name, out, rout)
        assert analyzed(out) == analyzed(rout), (name, out, rout)
        ok = int(re.search(r"ok_up_to=(\d+)", analyzed(out)[-1][1]).group(1))
        assert ok <= at


def test_legacy_preamble_file_matches(redis_aofdir, tmp_path):
    aofdir, _ = redis_aofdir
    base = [p for p in aofdir.iterdir() if p.name.endswith(".base.rdb")][0]
    legacy = tmp_path / "appendonly.aof"
    legacy.write_bytes(base.read_bytes() + incr_file(aofdir).read_bytes())
    rc, out = ours(legacy)
    rrc, rout = theirs(legacy)
    assert rc == rrc == 0, out + rout
    assert "Start checking Old-Style AOF" in out
    assert f"AOF {legacy} is valid" in out
    assert analyzed(out) == analyzed(rout)


def test_export_loads_into_redis_with_the_same_digest(redis_aofdir, tmp_path):
    aofdir, digest = redis_aofdir
    out_file = tmp_path / "export.aof"
    rc, out = ours("--export", out_file, aofdir / MANIFEST)
    assert rc == 0, out
    assert re.search(r"Exported \d+ keys and \d+ commands to ", out), out
    assert out_file.read_bytes().startswith(b"*2\r\n$6\r\nSELECT\r\n")
    rrc, rout = theirs(out_file)
    assert rrc == 0 and "is valid" in rout, rout
    # Redis 7.0 loads a legacy appendonly.aof found in its dir (and upgrades it).
    loaddir = tmp_path / "load"
    loaddir.mkdir()
    shutil.copy(out_file, loaddir / "appendonly.aof")
    srv = RedisServer(loaddir, "--appendonly", "yes")
    try:
        assert srv.digest() == digest
        assert srv.client.get("tx-a") == b"42"
        assert srv.db(1).hgetall("db1-hash") == {b"a": b"1", b"b": b"2"}
        assert 0 < srv.client.pttl("ttl") <= 10_000_000
    finally:
        srv.stop()
    # Our own check accepts the export too, and a single file exports as well.
    assert ours(out_file)[0] == 0
    again = tmp_path / "again.aof"
    assert ours("--export", again, out_file)[0] == 0
    assert again.read_bytes() == out_file.read_bytes()


def test_fix_truncated_tail(redis_aofdir, tmp_path):
    aofdir, _ = redis_aofdir
    data = incr_file(aofdir).read_bytes()
    cut = len(data) - 5
    d = copy_dir(aofdir, tmp_path / "fix")
    incr_file(d).write_bytes(data[:cut])
    rc, out = ours("--fix", d / MANIFEST, stdin="n\n")
    assert rc == 1 and "Continue? [y/N]: Aborting..." in out, out
    assert incr_file(d).stat().st_size == cut
    rc, out = ours("--fix", d / MANIFEST, stdin="y\n")
    assert rc == 0, out
    ok = int(re.search(r"ok_up_to=(\d+)", analyzed(out)[-1][1]).group(1))
    assert f"This will shrink the AOF {incr_file(d).name} from {cut} bytes, with {cut - ok} bytes, to {ok} bytes" in out
    assert f"Successfully truncated AOF {incr_file(d).name}" in out
    assert incr_file(d).stat().st_size == ok < cut
    assert data.startswith(incr_file(d).read_bytes())
    rrc, rout = theirs(d / MANIFEST)
    assert rrc == 0, rout
    assert ours(d / MANIFEST)[0] == 0


def test_export_refuses_a_damaged_set(redis_aofdir, tmp_path):
    aofdir, _ = redis_aofdir
    d = copy_dir(aofdir, tmp_path / "dmg")
    data = incr_file(d).read_bytes()
    incr_file(d).write_bytes(data[:-3])
    rc, out = ours("--export", tmp_path / "x.aof", d / MANIFEST)
    assert rc == 1 and "cannot export" in out, out


def test_manifest_errors(redis_aofdir, tmp_path):
    aofdir, _ = redis_aofdir
    d = copy_dir(aofdir, tmp_path / "man")
    text = (d / MANIFEST).read_text()
    (d / MANIFEST).write_text(text + "file x seq 0 type i\n")
    rc, out = ours(d / MANIFEST)
    rrc, rout = theirs(d / MANIFEST)
    assert rc == rrc == 1
    n = len(text.splitlines()) + 1
    assert f"{d / MANIFEST}:{n}: Invalid AOF manifest file format: 'file x seq 0 type i'" in out, out
    assert "Invalid AOF manifest file format" in rout
    # A file the manifest lists is missing.
    (d / MANIFEST).write_text(text + "file gone.aof seq 99 type i\n")
    rc, out = ours(d / MANIFEST)
    rrc, rout = theirs(d / MANIFEST)
    assert rc == rrc == 1
    assert "Cannot open file" in out and "gone.aof" in out, out


def test_ringkv_manifest_with_shards(redis_aofdir, tmp_path):
    """A per-shard manifest: every shard's files are checked, the last file
    of each shard is its tail, and the export covers all shards."""
    aofdir, _ = redis_aofdir
    d = tmp_path / "shards"
    d.mkdir()
    (d / "a.s0.1.incr.aof").write_bytes(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$2\r\nk0\r\n$1\r\nv\r\n")
    (d / "a.s1.1.incr.aof").write_bytes(b"*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$1\r\nw\r\n")
    (d / "a.manifest").write_text("file a.s0.1.incr.aof seq 1 type i shard 0 start 0\n"
                                  "file a.s1.1.incr.aof seq 1 type i shard 1 start 0\n")
    rc, out = ours(d / "a.manifest")
    assert rc == 0, out
    assert "Start checking shard 0" in out and "Start checking shard 1" in out
    out_file = tmp_path / "shards.aof"
    rc, out = ours("--export", out_file, d / "a.manifest")
    assert rc == 0, out
    data = out_file.read_bytes()
    assert data.count(b"SELECT") == 2 and data.endswith(b"$2\r\nk1\r\n$1\r\nw\r\n")
    assert theirs(out_file)[0] == 0


def test_usage_and_empty(tmp_path):
    rc, out = ours()
    assert rc == 1 and "Usage" in out
    rc, out = ours("--fix", "--export", "x", "y")
    assert rc == 1 and "Usage" in out
    empty = tmp_path / "empty.aof"
    empty.write_bytes(b"")
    rc, out = ours(empty)
    assert rc == 0 and f"AOF {empty} is empty" in out
