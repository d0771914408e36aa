"""RDB faults (issue 4). A corrupt dump.rdb at start-up (truncated, a flipped
byte caught only by the checksum, an impossible length, an unknown type byte)
stops the server with a non-zero exit and a log naming the file and a byte
offset; the same file uncorrupted loads. A full disk during BGSAVE (a file
size limit set with prlimit on the running server, or a small tmpfs): the
save fails, the previous dump.rdb stays byte-identical, no temp file is left,
writes and PING get MISCONF while reads work, until a save succeeds; with
stop-writes-on-bgsave-error no (or without save points, as in Redis 7.0)
writes go on.

The corrupt files are built here byte by byte (independent of our writer)."""

import os
import re
import subprocess
import time

import pytest
import redis

from conftest import persistence, prlimit_fsize, raw, wait_bgsave_done, wait_exit
from rdbgen import crc64, rdb_len, rdb_str

# Run in the io_uring stage only (scripts/test.sh): file formats and persistence logic.
pytestmark = pytest.mark.once

MISCONF = ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to "
           "persist to disk. Commands that may modify the data set are disabled, because this "
           "instance is configured to report errors during writes if RDB snapshotting fails "
           "(stop-writes-on-bgsave-error option). Please check the Redis logs for details about "
           "the RDB error.")
SAVE_POINTS = ["3600", "1"]     # MISCONF needs save points in Redis 7.0
OFFSET_RE = re.compile(r"(?:offset|byte|position|pos)\D{0,3}(\d+)", re.IGNORECASE)


# ---- building RDB files ---------------------------------------------------------

class RdbImage:
    """A valid RDB 10 file of string keys in db 0; remembers where each key's
    type byte and value length start, so tests can corrupt one precisely."""

    def __init__(self, n_keys=40):
        body = bytearray(b"REDIS0010")
        body += b"\xfa" + rdb_str("redis-ver") + rdb_str("7.0.15")
        body += b"\xfa" + rdb_str("redis-bits") + rdb_str("64")
        body += b"\xfe\x00" + b"\xfb" + rdb_len(n_keys) + rdb_len(0)
        self.keys = {}
        self.type_at = []
        self.value_len_at = []
        for i in range(n_keys):
            key, value = "key:%d" % i, "value-%d-" % i + "x" * 200
            self.type_at.append(len(body))
            body += b"\x00" + rdb_str(key)
            self.value_len_at.append(len(body))
            body += rdb_str(value)
            self.keys[key] = value.encode()
        body += b"\xff"
        self.body = bytes(body)

    def file(self, body=None):
        body = self.body if body is None else body
        return body + crc64(body).to_bytes(8, "little")


def start_on(server_in_dir, tmp_path, data, name):
    workdir = tmp_path / name
    workdir.mkdir()
    (workdir / "dump.rdb").write_bytes(data)
    return server_in_dir(workdir, wait=False, save="")


def offsets_in(log):
    return [int(m) for m in OFFSET_RE.findall(log)]


def assert_refused(server, low, high, reason=None):
    """The server exits non-zero; its log names dump.rdb and an offset in
    [low, high] (and one of the words in `reason`, when given)."""
    code = wait_exit(server, timeout=15)
    log = server.log_text()
    assert code != 0, log[-3000:]
    tail = log[log.rfind("### "):]          # this run's part of the log
    assert "dump.rdb" in tail, tail[-3000:]
    found = offsets_in(tail)
    assert any(low <= n <= high for n in found), \
        "no offset in [%d, %d] in the log (found %s):\n%s" % (low, high, found, tail[-3000:])
    if reason:
        assert any(word in tail.lower() for word in reason), tail[-3000:]


# ---- corrupt files at start-up -------------------------------------------------------

def test_good_image_loads(server_in_dir, tmp_path):
    img = RdbImage()
    srv = start_on(server_in_dir, tmp_path, img.file(), "good")
    srv.wait_ready()
    c = srv.client()
    assert c.dbsize() == len(img.keys)
    assert c.mget(sorted(img.keys)) == [img.keys[k] for k in sorted(img.keys)]
    c.close()


def test_truncated_file_refused(server_in_dir, tmp_path):
    data = RdbImage().file()
    cut = len(data) // 2
    srv = start_on(server_in_dir, tmp_path, data[:cut], "truncated")
    assert_refused(srv, 0, cut)


@pytest.mark.smoke
def test_flipped_byte_fails_checksum(server_in_dir, tmp_path):
    img = RdbImage()
    data = bytearray(img.file())
    pos = img.value_len_at[len(img.value_len_at) // 2] + 20     # inside a value: structure intact
    data[pos] ^= 0x01
    srv = start_on(server_in_dir, tmp_path, bytes(data), "flipped")
    # the checksum is checked at the end: its offset is the footer's
    assert_refused(srv, len(data) - 9, len(data), reason=("checksum", "crc"))


def test_impossible_length_refused(server_in_dir, tmp_path):
    img = RdbImage()
    pos = img.value_len_at[len(img.value_len_at) // 2]
    body = bytearray(img.body)
    # the value's 14-bit length becomes a 32-bit length of 2 GB - 16 bytes
    assert body[pos] & 0xC0 == 0x40
    body[pos:pos + 2] = b"\x80" + (0x7FFFFFF0).to_bytes(4, "big")
    srv = start_on(server_in_dir, tmp_path, img.file(bytes(body)), "length")
    assert_refused(srv, pos, pos + 5)


def test_unknown_type_refused(server_in_dir, tmp_path):
    img = RdbImage()
    pos = img.type_at[len(img.type_at) // 2]
    body = bytearray(img.body)
    assert body[pos] == 0
    body[pos] = 99
    srv = start_on(server_in_dir, tmp_path, img.file(bytes(body)), "type")
    assert_refused(srv, pos, pos + 1)


# ---- full disk during BGSAVE ------------------------------------------------------------

def call(c, *args):
    try:
        return raw(c, *args)
    except redis.ResponseError as e:
        return "ERR:" + str(e)


def failing_bgsave(c):
    """BGSAVE that cannot complete: it may be refused at once or fail later."""
    reply = call(c, "BGSAVE")
    assert reply == b"Background saving started" or str(reply).startswith("ERR:"), reply
    info = wait_bgsave_done(c)
    assert info["rdb_last_bgsave_status"] == "err", info
    return info


def files_besides(workdir, *names):
    return sorted(set(os.listdir(workdir)) - set(names))


def assert_misconf(c):
    for args in (("PING",), ("SET", "k", "v"), ("DEL", "pad:1"), ("INCR", "n")):
        assert call(c, *args) == "ERR:" + MISCONF, args


def assert_reads_work(c):
    assert c.get("pad:1") is not None
    assert c.exists("pad:2") == 1
    assert "rdb_last_bgsave_status" in persistence(c)


def test_fsize_limit_fails_bgsave_then_misconf(start_server):
    srv = start_server(save=SAVE_POINTS)
    c = srv.client(socket_timeout=30)
    c.execute_command("DEBUG", "POPULATE", 20000, "pad", 100)
    assert c.save() is True
    good = (srv.dir / "dump.rdb").read_bytes()
    assert len(good) > 400000          # the padding compresses well
    c.set("new", "after the good save")
    lastsave = c.lastsave()
    time.sleep(1.1)               # LASTSAVE counts seconds
    prlimit_fsize(srv.proc.pid, 100000)
    try:
        info = failing_bgsave(c)
        assert info["rdb_changes_since_last_save"] >= 1, info
        assert c.lastsave() == lastsave
        assert srv.is_running(), "SIGXFSZ must not kill the server:\n" + srv.log_text()[-3000:]
        assert (srv.dir / "dump.rdb").read_bytes() == good
        assert files_besides(srv.dir, "dump.rdb", "server.log") == []
        assert_misconf(c)
        assert_reads_work(c)
        assert c.get("new") == b"after the good save"
        # SAVE fails the same way and changes nothing (redis-server 7.0 dies of
        # SIGXFSZ here; a server that saves in-process must not)
        assert str(call(c, "SAVE")).startswith("ERR:")
        assert (srv.dir / "dump.rdb").read_bytes() == good
        assert_misconf(c)
    finally:
        prlimit_fsize(srv.proc.pid, "unlimited")
    assert call(c, "BGSAVE") == b"Background saving started"
    assert wait_bgsave_done(c)["rdb_last_bgsave_status"] == "ok"
    assert c.ping() is True
    assert c.set("k", "v") is True
    assert (srv.dir / "dump.rdb").read_bytes() != good
    c.close()


@pytest.mark.parametrize("directives", [
    {"save": SAVE_POINTS, "stop_writes_on_bgsave_error": "no"},
    {"save": ""},
], ids=["stop-writes-no", "no-save-points"])
def test_failed_bgsave_without_stop_writes(start_server, directives):
    srv = start_server(**directives)
    c = srv.client(socket_timeout=30)
    c.execute_command("DEBUG", "POPULATE", 20000, "pad", 100)
    prlimit_fsize(srv.proc.pid, 100000)
    try:
        failing_bgsave(c)
        assert srv.is_running(), srv.log_text()[-3000:]
        assert c.ping() is True
        assert c.set("k", "v") is True
        assert c.delete("pad:1") == 1
    finally:
        prlimit_fsize(srv.proc.pid, "unlimited")
    c.close()


def test_small_tmpfs_fails_bgsave(server_in_dir, tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip("cannot mount a tmpfs: " + res.stderr.strip())
    srv = None
    try:
        srv = server_in_dir(mnt, save=SAVE_POINTS)
        c = srv.client(socket_timeout=30)
        c.execute_command("DEBUG", "POPULATE", 2000, "pad", 100)
        assert c.save() is True
        good = (mnt / "dump.rdb").read_bytes()
        c.execute_command("DEBUG", "POPULATE", 100000, "pad", 100)  # ~3.3 MB of RDB
        failing_bgsave(c)
        assert srv.is_running(), srv.log_text()[-3000:]
        assert (mnt / "dump.rdb").read_bytes() == good
        assert files_besides(mnt, "dump.rdb", "server.log") == []
        assert_misconf(c)
        assert_reads_work(c)
        # SHUTDOWN must save (save points) and cannot: it refuses and stays up
        assert call(c, "SHUTDOWN") == "ERR:Errors trying to SHUTDOWN. Check logs."
        assert srv.is_running()
        assert (mnt / "dump.rdb").read_bytes() == good
        # more room: the next save succeeds and writes are accepted again
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        assert call(c, "BGSAVE") == b"Background saving started"
        assert wait_bgsave_done(c)["rdb_last_bgsave_status"] == "ok"
        assert c.set("k", "v") is True
        assert c.ping() is True
        c.config_set("save", "")      # nothing to save at stop: the mount goes next
        c.close()
    finally:
        if srv is not None:
            srv.stop(check=False)
        for _ in range(50):
            if subprocess.run(["umount", str(mnt)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
