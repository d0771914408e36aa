"""RDB interoperability with Debian's redis-server 7.0.15 (issue 4): the
dump.rdb ringkv writes passes redis-check-rdb and loads in redis-server with
the same DEBUG DIGEST, values, TTLs and encodings; the dump.rdb redis-server
writes for the same data loads in ringkv the same way; DUMP payloads move
both ways with RESTORE. Skipped where redis-server is not installed."""

import re
import shutil
import subprocess
import time

import pytest

from conftest import persistence, value_of
from test_rdb_persist import (DBS, THRESHOLDS, check_loaded, client_factory, dataset, digest,
                              fill_all_types, state)

# Run in the io_uring stage only (scripts/test.sh): file formats and persistence logic.
pytestmark = pytest.mark.once

REDIS_THRESHOLDS = [a for k, v in THRESHOLDS.items() for a in ("--" + k.replace("_", "-"), str(v))]


def redis_check_rdb(path):
    exe = shutil.which("redis-check-rdb")
    if not exe:
        pytest.skip("redis-check-rdb not installed")
    proc = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def copy_dump(src_dir, dst_dir):
    dst_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src_dir / "dump.rdb", dst_dir / "dump.rdb")


@pytest.mark.parametrize("options", [{}, {"rdbcompression": "no"}, {"rdbchecksum": "no"}],
                         ids=["default", "rdbcompression-no", "rdbchecksum-no"])
def test_ringkv_dump_loads_in_redis(start_server, real_redis_in_dir, tmp_path, options):
    ours = start_server(save="", **THRESHOLDS, **options)
    expected = dataset(client_factory(ours))
    c = ours.client()
    ours_digest = digest(c)
    before = state(client_factory(ours))
    assert c.save() is True
    c.close()
    t0 = time.monotonic()
    ours.stop()

    rc, out = redis_check_rdb(ours.dir / "dump.rdb")
    assert rc == 0, out
    assert "RDB looks OK" in out, out
    assert (ours.dir / "dump.rdb").read_bytes()[:9] == b"REDIS0010"
    if options.get("rdbchecksum") != "no":
        assert "Checksum OK" in out, out
    assert re.search(r"\[info\] %d keys read\b" % len(before), out), out
    with_ttl = sum(1 for v in before.values() if v[2] != -1)
    assert re.search(r"\[info\] %d expires\b" % with_ttl, out), out
    for db in DBS:
        assert "Selecting DB ID %d\n" % db in out, out

    copy_dump(ours.dir, tmp_path / "redis")
    theirs = real_redis_in_dir(tmp_path / "redis", *REDIS_THRESHOLDS)
    rc_ = theirs.client()
    assert digest(rc_) == ours_digest
    check_loaded(before, client_factory(theirs), expected, int((time.monotonic() - t0) * 1000))
    rc_.close()


@pytest.mark.parametrize("redis_options", [[], ["--rdbcompression", "no"], ["--rdbchecksum", "no"]],
                         ids=["default", "rdbcompression-no", "rdbchecksum-no"])
def test_redis_dump_loads_in_ringkv(server_in_dir, real_redis_in_dir, tmp_path, redis_options):
    theirs = real_redis_in_dir(tmp_path / "redis", *REDIS_THRESHOLDS, *redis_options)
    expected = dataset(client_factory(theirs))
    c = theirs.client()
    their_digest = digest(c)
    before = state(client_factory(theirs))
    assert c.save() is True
    c.close()
    t0 = time.monotonic()
    theirs.stop()

    copy_dump(tmp_path / "redis", tmp_path / "ours")
    ours = server_in_dir(tmp_path / "ours", save="", **THRESHOLDS)
    c = ours.client()
    assert digest(c) == their_digest
    check_loaded(before, client_factory(ours), expected, int((time.monotonic() - t0) * 1000))
    assert persistence(c)["loading"] == 0
    c.close()


def test_same_data_same_digest_on_both(start_server, real_redis_in_dir, tmp_path):
    """The same commands on both servers give the same digest (no TTLs: those
    are absolute times that differ between the two runs)."""
    ours = start_server(save="", **THRESHOLDS)
    theirs = real_redis_in_dir(tmp_path / "redis", *REDIS_THRESHOLDS)
    clients = []
    for srv in (ours, theirs):
        for db in (0, 9):
            c = srv.client(db=db)
            fill_all_types(c, suffix=":%d" % db)
            c.delete("s_bin:%d" % db)        # random bytes differ between the two fills
            clients.append(c)
    assert digest(clients[0]) == digest(clients[2])
    for c in clients:
        c.close()


def test_dump_payloads_both_ways(start_server, real_redis_in_dir, tmp_path):
    ours = start_server(save="", **THRESHOLDS)
    theirs = real_redis_in_dir(tmp_path / "redis", *REDIS_THRESHOLDS)
    r, rr = ours.client(), theirs.client()
    expected = fill_all_types(r, suffix=":ours")
    expected.update(fill_all_types(rr, suffix=":theirs"))
    for key in sorted(expected):
        src, dst = (r, rr) if key.endswith(":ours") else (rr, r)
        assert dst.restore(key, 0, src.dump(key)), key
        assert value_of(dst, key) == value_of(src, key), key
        if expected[key] is not None:
            assert dst.object("encoding", key).decode() == expected[key], key
    assert r.dbsize() == rr.dbsize() == len(expected)
    assert digest(r) == digest(rr)
    r.close()
    rr.close()
