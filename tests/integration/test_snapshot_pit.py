"""Point-in-time snapshots (issue 4) on a --shards 2 server: while BGSAVE
writes a padded dataset, one writer runs MULTI/EXEC transactions that move an
amount between accounts on different shards, INCR `seq`, add one key and
delete another. The dump.rdb, loaded in a fresh server, must be the dataset
after exactly `seq` transactions: the total is exact, every account, added
and deleted key matches a replay of the first `seq` transactions, and every
other key (the padding and the keys still to delete) equals the source's,
with DBSIZE ruling out extra keys. The cut must fall between the BGSAVE
request and its reply. (No DEBUG DIGEST: it costs ~15 us per key.)"""

import concurrent.futures
import random
import shutil
import subprocess
import threading
import time

import pytest

from conftest import cli_bin, keys_on_shard, persistence, raw, wait_bgsave_done

# Run once, in the io_uring stage (the marker is explained in pytest.ini).
pytestmark = pytest.mark.once

PAD_KEYS = 500000            # DEBUG POPULATE ... pad 100: BGSAVE takes a while
MAX_TX = 20000               # upper bound of transactions per run (pre:* keys to delete)
CHUNK = 5000                 # keys per MGET when comparing whole ranges
N_PER_SHARD = 16
INITIAL = 1000
ACCOUNTS = (keys_on_shard(0, N_PER_SHARD, "acct"), keys_on_shard(1, N_PER_SHARD, "acct"))
ALL_ACCOUNTS = ACCOUNTS[0] + ACCOUNTS[1]
TOTAL = INITIAL * len(ALL_ACCOUNTS)


def plan(seed, n):
    """The i-th transaction for i < n: (src, dst, amount, added key, its value,
    deleted key); src and dst always on different shards."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = (0, 1) if rng.random() < 0.5 else (1, 0)
        src, dst = rng.choice(ACCOUNTS[a]), rng.choice(ACCOUNTS[b])
        out.append((src, dst, rng.randint(1, 100), "add:%d" % i, "v%d-%s" % (i, src), "pre:%d" % i))
    return out


def initial_state(c):
    c.execute_command("DEBUG", "POPULATE", PAD_KEYS, "pad", 100)
    c.execute_command("DEBUG", "POPULATE", MAX_TX, "pre", 10)
    c.mset({key: INITIAL for key in ALL_ACCOUNTS})
    c.set("seq", 0)


def run_tx(p, tx):
    src, dst, amount, add_key, add_value, del_key = tx
    p.decrby(src, amount)
    p.incrby(dst, amount)
    p.incr("seq")
    p.set(add_key, add_value)
    p.delete(del_key)


class Writer(threading.Thread):
    """Runs the planned transactions one MULTI/EXEC at a time until stopped;
    `sent` counts EXECs sent, `done` EXECs answered."""

    def __init__(self, server, txs):
        super().__init__(daemon=True)
        self.client = server.client(socket_timeout=30)
        self.txs = txs
        self.sent = 0
        self.done = 0
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            for i, tx in enumerate(self.txs):
                if self.stop.is_set():
                    break
                p = self.client.pipeline(transaction=True)
                run_tx(p, tx)
                self.sent = i + 1
                res = p.execute()
                assert res[2] == i + 1, res
                assert res[4] == 1, res
                self.done = i + 1
            else:
                self.error = AssertionError("ran out of planned transactions (MAX_TX)")
        except Exception as e:      # reported by the test thread
            self.error = e
        finally:
            self.client.close()


def replay_state(txs):
    balances = {key: INITIAL for key in ALL_ACCOUNTS}
    for src, dst, amount, _, _, _ in txs:
        balances[src] -= amount
        balances[dst] += amount
    return balances


@pytest.mark.parametrize("run", range(3))
def test_bgsave_is_point_in_time(start_server, server_in_dir, tmp_path, run):
    seed = 1000 + run
    txs = plan(seed, MAX_TX)
    srv = start_server(save="")
    c = srv.client(socket_timeout=60)
    initial_state(c)
    writer = Writer(srv, txs)
    writer.start()
    while writer.done < 200 and writer.is_alive():
        time.sleep(0.005)
    done_before = writer.done
    t0 = time.monotonic()
    assert raw(c, "BGSAVE") == b"Background saving started"
    sent_after = writer.sent
    wait_bgsave_done(c, timeout=60)
    save_s = time.monotonic() - t0
    done_at_end = writer.done
    time.sleep(0.05)              # a few more writes after the save ended
    writer.stop.set()
    writer.join(timeout=30)
    assert writer.error is None, repr(writer.error)
    info = persistence(c)
    assert info["rdb_last_bgsave_status"] == "ok"
    assert done_at_end > sent_after, \
        "no transaction ran while BGSAVE ran (%.3fs): the test proves nothing" % save_s
    src = c

    # load the file in a fresh server
    copy_dir = tmp_path / "loaded"
    copy_dir.mkdir()
    shutil.copyfile(srv.dir / "dump.rdb", copy_dir / "dump.rdb")
    loaded = server_in_dir(copy_dir, save="")
    lc = loaded.client(socket_timeout=60)
    seq = int(lc.get("seq"))
    assert done_before <= seq <= sent_after, \
        "the cut (seq %d) is outside BGSAVE's call (%d..%d)" % (seq, done_before, sent_after)
    balances = dict(zip(ALL_ACCOUNTS, (int(v) for v in lc.mget(ALL_ACCOUNTS))))
    assert sum(balances.values()) == TOTAL
    assert balances == replay_state(txs[:seq])
    added = lc.mget([tx[3] for tx in txs[:writer.sent]])
    assert added[:seq] == [tx[4].encode() for tx in txs[:seq]]
    assert added[seq:] == [None] * (writer.sent - seq)
    deleted = lc.mget([tx[5] for tx in txs[:writer.sent]])
    assert deleted[:seq] == [None] * seq
    assert None not in deleted[seq:]
    assert lc.dbsize() == PAD_KEYS + MAX_TX + len(ALL_ACCOUNTS) + 1

    # every key the transactions never touched equals the source's
    names = ["pad:%d" % i for i in range(PAD_KEYS)] + ["pre:%d" % i for i in range(writer.sent, MAX_TX)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        got, want = pool.map(lambda srv_: mget_all(srv_, names), (loaded, srv))
    assert got.count(b"\n") == len(names)
    assert got == want
    lc.close()
    src.close()


def mget_all(server, names):
    """The values of `names` as redis-cli prints them (one per line, raw):
    redis-cli parses half a million values in a second or two, redis-py in ten."""
    script = "".join("MGET %s\n" % " ".join(names[i:i + CHUNK]) for i in range(0, len(names), CHUNK))
    proc = subprocess.run([cli_bin(), "-h", server.host, "-p", str(server.port)],
                          input=script.encode(), stdout=subprocess.PIPE, timeout=120, check=True)
    return proc.stdout
