"""ringkv-check-rdb against files written by a real redis-server 7.0.15:
every type and encoding, expires, two databases -> exit 0 with the right
counts; truncated or corrupted copies -> exit 1 with an offset.

The tool is found next to the server binary (RINGKV_BIN's directory) unless
RINGKV_CHECK_RDB names it. Files written by our own writer are covered by the
unit test (tests/unit/test_rdb_file.cc), which only C can reach."""

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


def check_rdb_bin():
    path = os.environ.get("RINGKV_CHECK_RDB") or str(server_bin().parent / "ringkv-check-rdb")
    if not os.path.exists(path):
        pytest.skip(f"{path} not built")
    return path


def run_check(path):
    proc = subprocess.run([check_rdb_bin(), str(path)], capture_output=True, text=True, timeout=20)
    return proc.returncode, proc.stdout + proc.stderr


def fill(r0, r1):
    """Keys of every type and Redis 7.0 encoding; returns the expected counts."""
    r0.set("int", 12345)
    r0.set("embstr", "hello")
    r0.set("raw", "x" * 500)  # LZF compressed in the file
    r0.set("noise", os.urandom(200))
    r0.set("neg", -7, px=100000)
    r0.rpush("small-list", "a", "b", 1, 2)
    r0.rpush("big-list", *[f"element-{i}" for i in range(1000)])
    r0.rpush("plain-node", "y" * 10000)  # a plain quicklist node
    r0.sadd("intset", 1, 2, 3, 70000)
    r0.sadd("ht-set", "a", "b", "c")
    r0.sadd("big-intset", *range(1000))
    r0.zadd("lp-zset", {"a": 1, "b": 2.5, "c": -3})
    r0.zadd("sl-zset", {f"m{i}": i / 3 for i in range(200)})
    r0.hset("lp-hash", mapping={"f1": "v1", "f2": 2})
    r0.hset("ht-hash", mapping={f"f{i}": f"v{i}" for i in range(300)})
    r0.expire("lp-hash", 1000)
    r1.set("db1-string", "v")
    r1.rpush("db1-list", "z")
    r1.hset("db1-hash", "f", "v")
    r1.expire("db1-list", 500)
    return {
        0: "15 keys: 5 string, 3 list, 3 set, 2 zset, 2 hash (2 with expire)",
        1: "3 keys: 1 string, 1 list, 0 set, 0 zset, 1 hash (1 with expire)",
    }


@pytest.fixture(scope="module")
def redis_dump(tmp_path_factory):
    if not REDIS_SERVER:
        pytest.skip("redis-server not installed")
    workdir = tmp_path_factory.mktemp("redis-rdb")
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r0 = redis.Redis(port=port, db=0)
        for _ in range(100):
            try:
                r0.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        expected = fill(r0, redis.Redis(port=port, db=1))
        assert r0.save()
        r0.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    dump = workdir / "dump.rdb"
    assert dump.exists()
    return dump, expected


def test_real_redis_dump_is_ok(redis_dump):
    dump, expected = redis_dump
    rc, out = run_check(dump)
    assert rc == 0, out
    assert f"[offset 0] Checking RDB file {dump}" in out
    assert "AUX FIELD redis-ver = '7.0.15'" in out
    assert "AUX FIELD redis-bits = '64'" in out
    assert re.search(r"\[offset \d+\] Checksum OK", out), out
    for db, line in expected.items():
        assert f"db {db}: {line}" in out, out
    assert "[info] 18 keys read" in out
    assert "RDB looks OK!" in out
    assert "ERROR" not in out


def test_truncated_dump_is_refused(redis_dump, tmp_path):
    dump, _ = redis_dump
    data = dump.read_bytes()
    for cut in (0, 5, 9, len(data) // 3, len(data) // 2, len(data) - 9, len(data) - 1):
        bad = tmp_path / f"cut{cut}.rdb"
        bad.write_bytes(data[:cut])
        rc, out = run_check(bad)
        assert rc == 1, (cut, out)
        assert "--- RDB ERROR DETECTED ---" in out
        m = re.search(r"\[offset (\d+)\] \S", out.split("--- RDB ERROR DETECTED ---")[1])
        assert m and int(m.group(1)) <= cut, (cut, out)
        assert "RDB looks OK" not in out


def test_flipped_byte_is_refused(redis_dump, tmp_path):
    dump, _ = redis_dump
    data = bytearray(dump.read_bytes())
    # Mid-file bytes (inside value payloads): a structure or checksum error.
    for at in (len(data) // 3, len(data) // 2, len(data) * 2 // 3):
        bad_data = bytearray(data)
        bad_data[at] ^= 0x55
        bad = tmp_path / f"flip{at}.rdb"
        bad.write_bytes(bytes(bad_data))
        rc, out = run_check(bad)
        assert rc == 1, out
        assert "--- RDB ERROR DETECTED ---" in out
        assert re.search(r"\[offset \d+\] \S", out.split("--- RDB ERROR DETECTED ---")[1]), out


def test_checksum_mismatch_names_the_checksum(redis_dump, tmp_path):
    dump, _ = redis_dump
    data = bytearray(dump.read_bytes())
    at = data.find(b"hello")  # the embstr value: parses fine, only the CRC differs
    assert at > 0
    data[at] ^= 0x01
    bad = tmp_path / "crc.rdb"
    bad.write_bytes(bytes(data))
    rc, out = run_check(bad)
    assert rc == 1
    assert f"[offset {len(data) - 8}] RDB CRC error" in out, out


def test_missing_file_and_usage(tmp_path):
    tool = check_rdb_bin()
    proc = subprocess.run([tool], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 1 and "Usage" in proc.stderr
    rc, out = run_check(tmp_path / "nope.rdb")
    assert rc == 1 and "Cannot read" in out
