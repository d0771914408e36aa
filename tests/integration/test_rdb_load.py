"""Start-up loading of dump.rdb by the parallel loader (storage/rdb_load.c):
a file Debian's redis-server 7.0 wrote with every type loads into two shards
with the same DEBUG DIGEST; clients get -LOADING while a big file loads;
corrupt files (truncated, flipped byte, impossible length, unknown type,
duplicate key, database out of range) stop the start with the file name and
byte offset in the log; keys whose TTL has passed are skipped and counted."""

import re
import socket
import struct
import time

import pytest

from conftest import wait_exit
from rdbgen import crc64, rdb_len, rdb_str

# Run in the io_uring stage only (scripts/test.sh): file formats and persistence logic.
pytestmark = pytest.mark.once

LOADING = b"-LOADING Redis is loading the dataset in memory\r\n"


# ---- writing RDB files by hand ---------------------------------------------------

class RdbBuilder:
    """An RDB version 10 file, piece by piece; offset() is where the next
    piece starts."""

    def __init__(self):
        self.data = bytearray(b"REDIS0010")
        self.aux(b"redis-ver", b"7.0.15")

    def offset(self):
        return len(self.data)

    def aux(self, name, value):
        self.data += b"\xfa" + rdb_str(name) + rdb_str(value)

    def select(self, db):
        self.data += b"\xfe" + rdb_len(db)

    def string(self, key, value, expire_ms=None):
        """Returns the offset of the key's type byte."""
        if expire_ms is not None:
            self.data += b"\xfc" + struct.pack("<q", expire_ms)
        at = self.offset()
        self.data += b"\x00" + rdb_str(key) + rdb_str(value)
        return at

    def raw(self, b):
        self.data += b

    def finish(self, checksum=True):
        self.data += b"\xff"
        self.data += struct.pack("<Q", crc64(self.data) if checksum else 0)
        return bytes(self.data)


def write_dump(workdir, data):
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "dump.rdb").write_bytes(data)


def refused(server_in_dir, workdir, data):
    """Starts on a file that must be refused; returns the server's log."""
    write_dump(workdir, data)
    server = server_in_dir(workdir, wait=False)
    code = wait_exit(server, timeout=20)
    log = server.log_text()
    assert code != 0, log
    assert "dump.rdb" in log, log
    return log


def offset_in(log):
    m = re.search(r"dump\.rdb: bad RDB at byte offset (\d+): (.*)", log)
    assert m, log
    return int(m.group(1)), m.group(2)


# ---- a file redis-server wrote ---------------------------------------------------

def fill_redis(c):
    c.execute_command("DEBUG", "POPULATE", "2000", "key", "20")
    c.set("int", 12345)
    c.set("lzf", "abc" * 100)
    c.set("ttl-future", "v", px=3_600_000)
    c.rpush("list-small", "a", "1", "-300", "")
    c.rpush("list-big", *["element-%d" % i for i in range(1000)])
    c.hset("hash-small", mapping={"f1": "v1", "f2": "22"})
    c.hset("hash-big", mapping={"f%d" % i: "v" * (i % 70) for i in range(300)})
    c.sadd("set-int", 1, 2, 3, 70000)
    c.sadd("set-big-int", *range(0, 3000, 5))
    c.sadd("set-str", "x", "y", "z" * 300)
    c.zadd("zset-small", {"a": 1, "b": 2.5, "c": -1})
    c.zadd("zset-big", {"m%d" % i: i / 2 for i in range(300)})
    c.expire("zset-big", 7200)
    c.execute_command("SELECT", 3)
    c.set("in-db-3", "three")
    c.hset("hash-db-3", "f", "v")
    c.execute_command("SELECT", 15)
    c.rpush("in-db-15", "x")
    c.execute_command("SELECT", 0)


def test_loads_what_redis_wrote_into_two_shards(real_redis_in_dir, server_in_dir, tmp_path):
    work = tmp_path / "data"
    redis = real_redis_in_dir(work)
    c = redis.client()
    fill_redis(c)
    want_digest = c.execute_command("DEBUG", "DIGEST")
    want_sizes = {}
    for db in (0, 3, 15):
        c.execute_command("SELECT", db)
        want_sizes[db] = c.dbsize()
    c.execute_command("SELECT", 0)
    assert c.save() is True
    c.close()
    redis.stop()

    ours = server_in_dir(work, shards=2)
    r = ours.client()
    assert r.execute_command("DEBUG", "DIGEST") == want_digest
    for db, size in want_sizes.items():
        r.execute_command("SELECT", db)
        assert r.dbsize() == size
    r.execute_command("SELECT", 0)
    assert 3_500_000 < r.pttl("ttl-future") <= 3_600_000
    assert r.lrange("list-small", 0, -1) == [b"a", b"1", b"-300", b""]
    assert r.object("encoding", "hash-big") == b"hashtable"
    r.close()
    log = ours.log_text()
    total = sum(want_sizes.values())
    assert "Loading RDB produced by version 7.0.15" in log
    assert "Done loading RDB, keys loaded: %d, keys expired: 0." % total in log
    assert re.search(r"DB loaded from disk: \d+\.\d{3} seconds", log), log


# ---- -LOADING while a big file loads ---------------------------------------------

def ask(port, command):
    """One command on a fresh connection; the raw first reply line."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(command)
        buf = b""
        while not buf.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        return buf


def test_loading_error_while_a_big_file_loads(real_redis_in_dir, server_in_dir, tmp_path):
    work = tmp_path / "big"
    redis = real_redis_in_dir(work)
    c = redis.client()
    c.execute_command("DEBUG", "POPULATE", "1000000", "key", "16")
    assert c.save() is True
    c.close()
    redis.stop()

    ours = server_in_dir(work, wait=False, shards=2)
    replies = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            ping = ask(ours.port, b"*1\r\n$4\r\nPING\r\n")
            get = ask(ours.port, b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n")
        except OSError:
            assert ours.is_running(), ours.log_text()
            time.sleep(0.01)
            continue
        replies.append((ping, get))
        if ping == b"+PONG\r\n":
            break
    assert (LOADING, LOADING) in replies, replies[:5]
    assert replies[-1][0] == b"+PONG\r\n", replies[-5:]
    # Once loaded every key is there, on both shards.
    r = ours.client()
    assert r.dbsize() == 1_000_000
    assert r.get("key:1") == b"value:1" + b"\x00" * 9
    r.close()
    log = ours.log_text()
    assert "Done loading RDB, keys loaded: 1000000, keys expired: 0." in log


# ---- corrupt files ---------------------------------------------------------------

def small_file():
    b = RdbBuilder()
    b.select(0)
    b.string(b"greeting", b"hello world")
    b.string(b"k2", b"v" * 100)
    return b


def test_truncated_file_is_refused_with_offset(server_in_dir, tmp_path):
    b = RdbBuilder()
    b.select(0)
    at = b.string(b"k", b"x" * 100)
    whole = b.finish()
    value_at = at + 1 + 2  # type byte, then "\x01k"
    cut = whole[:value_at + 50]  # half of the value is missing
    log = refused(server_in_dir, tmp_path / "cut", cut)
    off, why = offset_in(log)
    assert off == value_at + len(rdb_len(100)), log  # after the length: the missing bytes
    assert "truncated string" in why, log
    # A cut inside the structure: the end of the file is named.
    log = refused(server_in_dir, tmp_path / "cut2", whole[:value_at - 1])
    off, why = offset_in(log)
    assert off <= value_at - 1, log


def test_flipped_byte_fails_the_checksum(server_in_dir, tmp_path):
    data = bytearray(small_file().finish())
    i = data.index(b"hello world")
    data[i + 2] ^= 0x20
    log = refused(server_in_dir, tmp_path / "flip", bytes(data))
    off, why = offset_in(log)
    assert off == len(data) - 8, log
    assert "RDB CRC error" in why, log


def test_impossible_length_is_refused(server_in_dir, tmp_path):
    b = RdbBuilder()
    b.select(0)
    at = b.offset()
    b.raw(b"\x00\x01k\x80\x7f\xff\xff\xff" + b"short")
    log = refused(server_in_dir, tmp_path / "len", b.finish())
    off, why = offset_in(log)
    assert off == at + 3 + 5, log
    assert "truncated string" in why and "key 'k'" in why, log


def test_unknown_type_is_refused(server_in_dir, tmp_path):
    b = RdbBuilder()
    b.select(0)
    at = b.offset()
    b.raw(b"\x63\x01k\x01v")
    log = refused(server_in_dir, tmp_path / "type", b.finish())
    off, why = offset_in(log)
    assert off == at + 3, log
    assert "unsupported value type 99" in why, log


def test_duplicate_key_and_database_out_of_range_are_refused(server_in_dir, tmp_path):
    b = small_file()
    at = b.string(b"greeting", b"again")
    off, why = offset_in(refused(server_in_dir, tmp_path / "dup", b.finish()))
    assert off == at and "duplicate key 'greeting'" in why, why

    b = small_file()
    b.select(16)
    at = b.string(b"k", b"v")
    off, why = offset_in(refused(server_in_dir, tmp_path / "db", b.finish()))
    assert off == at and "database 16" in why, why


def test_zero_checksum_is_not_checked(server_in_dir, tmp_path):
    work = tmp_path / "nocrc"
    write_dump(work, small_file().finish(checksum=False))
    server = server_in_dir(work)
    r = server.client()
    assert r.get("greeting") == b"hello world"
    r.close()
    assert "checksum disabled: no check performed" in server.log_text()


# ---- expired keys ----------------------------------------------------------------

def test_keys_with_past_ttl_are_skipped(server_in_dir, tmp_path):
    now_ms = int(time.time() * 1000)
    b = RdbBuilder()
    b.select(0)
    b.string(b"past", b"gone", expire_ms=now_ms - 60_000)
    b.string(b"future", b"here", expire_ms=now_ms + 600_000)
    b.string(b"forever", b"here")
    b.select(2)
    b.string(b"past2", b"gone", expire_ms=1)
    work = tmp_path / "ttl"
    write_dump(work, b.finish())
    server = server_in_dir(work)
    r = server.client()
    assert r.dbsize() == 2
    assert r.exists("past") == 0
    assert 590_000 < r.pttl("future") <= 600_000
    assert r.ttl("forever") == -1
    r.execute_command("SELECT", 2)
    assert r.dbsize() == 0
    r.close()
    assert "Done loading RDB, keys loaded: 2, keys expired: 2." in server.log_text()
