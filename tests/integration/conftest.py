"""Integration test harness for ringkv: starts the real server binary and
hands tests clients to it.

Fixtures
  ringkv        module scope: one server (--shards 2, debug command on) on a
                free loopback port in a temp dir.
  r             function scope: redis.Redis client to `ringkv`, FLUSHALL first.
  start_server  function scope factory: start_server(*args, config_file=None,
                wait=True, **directives) -> Server; every server it started is
                stopped (and checked for crashes) at teardown.

Environment
  RINGKV_BIN         server binary (default <repo>/build/ringkv-server)
  RINGKV_EXTRA_ARGS  extra arguments for every server (shlex split), e.g.
                     "--io-backend epoll"
  RINGKV_CLI         redis-cli binary (default: redis-cli on PATH)

Helpers importable from tests (`from conftest import ...`):
  free_port(), Server, RespConn (raw-socket RESP2/RESP3 client), RespError,
  key_slot(key), shard_of(key, nshards=2), keys_on_shard(shard, n, prefix, nshards=2).

A server "crashed" when it exited non-zero / by a signal, or when its log holds
a sanitizer report; that fails the teardown of whoever owned it. A test that
ends a server on purpose (SHUTDOWN, DEBUG SEGFAULT) sets
`server.expect_exit = True` (or calls server.stop(check=False)).
"""

import os
import pathlib
import shlex
import shutil
import signal
import socket
import subprocess
import time

import pytest
import redis

REPO = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "build" / "ringkv-server"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",          # UBSan
    "ERROR: ThreadSanitizer",
    "WARNING: ThreadSanitizer",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "smoke: fast core tests run by the sanitizer build")
    config.addinivalue_line("markers", "slow: tests that take more than a second or two")


def server_bin():
    return pathlib.Path(os.environ.get("RINGKV_BIN", str(DEFAULT_BIN))).resolve()


def cli_bin():
    return os.environ.get("RINGKV_CLI") or shutil.which("redis-cli") or "redis-cli"


def extra_args():
    return shlex.split(os.environ.get("RINGKV_EXTRA_ARGS", ""))


def free_port():
    """A TCP port that was free on loopback a moment ago (and is not in the
    range above 60000 that ephemeral outgoing connections use most)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        # the +10000 cluster bus port convention is unused here, but avoid
        # ports whose neighbours tests may pick for a second server
        if port < 55000:
            return port
    return port


def directive_args(directives):
    """{'proto_max_bulk_len': '1mb'} -> ['--proto-max-bulk-len', '1mb'].
    A list/tuple value gives several arguments; True/False give yes/no."""
    out = []
    for name, value in directives.items():
        out.append("--" + name.replace("_", "-"))
        if isinstance(value, (list, tuple)):
            out.extend(str(v) for v in value)
        elif value is True:
            out.append("yes")
        elif value is False:
            out.append("no")
        else:
            out.append(str(value))
    return out


def _crc16_xmodem(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def key_slot(key):
    """Redis Cluster's slot of a key ({hashtag} honoured)."""
    if isinstance(key, str):
        key = key.encode()
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return _crc16_xmodem(key) % 16384


def shard_of(key, nshards=2):
    """The shard owning `key` (slot mod shards, see DESIGN.md)."""
    return key_slot(key) % nshards


def keys_on_shard(shard, n, prefix="k", nshards=2):
    """n distinct keys 'prefix:<i>' that all live on `shard`."""
    out, i = [], 0
    while len(out) < n:
        key = "%s:%d" % (prefix, i)
        if shard_of(key, nshards) == shard:
            out.append(key)
        i += 1
    return out


class RespError(Exception):
    """An error reply read by RespConn (the message without the leading '-')."""


class RespConn:
    """A raw socket speaking RESP, for what redis-py 4.3 cannot do: RESP3,
    inline commands, malformed input, not reading replies.

    read() returns Python values: simple strings as str, bulk strings as
    bytes, integers as int, arrays/sets/pushes as list, maps as dict (keys
    decoded to str when they are bulk/simple strings), null as None,
    doubles as float, booleans as bool. Errors are *returned* as RespError
    instances (not raised) so tests can compare them; use .call() to raise.
    """

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def encode(*args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(parts)

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send(self, *args):
        self.send_raw(self.encode(*args))

    def call(self, *args):
        """Send one command, read its reply, raise RespError on an error reply."""
        self.send(*args)
        reply = self.read()
        if isinstance(reply, RespError):
            raise reply
        return reply

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("connection closed by server")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read_line(self):
        """One raw line without CRLF (as bytes)."""
        return self._line()

    def read(self):
        line = self._line()
        if not line:
            raise ValueError("empty RESP line")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if kind == b"%":
            out = {}
            for _ in range(int(rest)):
                k = self.read()
                if isinstance(k, bytes):
                    k = k.decode(errors="replace")
                out[k] = self.read()
            return out
        if kind == b"|":  # attribute: skip it, return the value that follows
            for _ in range(int(rest)):
                self.read()
                self.read()
            return self.read()
        if kind == b"_":
            return None
        if kind == b",":
            return float(rest)
        if kind == b"#":
            return rest == b"t"
        if kind == b"(":
            return int(rest)
        if kind in (b"=", b"!"):
            data = self._exact(int(rest))
            return RespError(data.decode()) if kind == b"!" else data
        raise ValueError("unknown RESP type byte %r in %r" % (kind, line))

    def is_closed(self, timeout=2.0):
        """True when the server closed the connection within `timeout`
        (pending reply bytes are drained and ignored)."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return False


class Server:
    """One ringkv-server process. Arguments: `args` go first after the
    optional config file, then the harness defaults, then directives."""

    def __init__(self, workdir, args=(), directives=None, config_file=None,
                 binary=None, port=None):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.binary = pathlib.Path(binary) if binary else server_bin()
        self.log_path = self.dir / "server.log"
        self.args = list(args)
        self.directives = dict(directives or {})
        self.config_file = self._config_path(config_file)
        self.proc = None
        self.expect_exit = False
        self._log_fh = None

    def _config_path(self, config_file):
        if config_file is None:
            return None
        text = str(config_file)
        if "\n" in text or not os.path.exists(text):
            # given as content: write it next to the data
            path = self.dir / "ringkv.conf"
            path.write_text(text if text.endswith("\n") else text + "\n")
            return path
        return pathlib.Path(text).resolve()

    def command_line(self):
        cmd = [str(self.binary)]
        if self.config_file is not None:
            cmd.append(str(self.config_file))
        given = {k.replace("_", "-") for k in self.directives}
        defaults = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "dir": str(self.dir),
            "shards": "2",
            "enable-debug-command": "yes",
        }
        for name, value in defaults.items():
            if name not in given:
                cmd += ["--" + name, value]
        cmd += self.args
        cmd += directive_args(self.directives)
        cmd += extra_args()
        return cmd

    def start(self, wait=True):
        if not self.binary.exists():
            pytest.fail("server binary %s does not exist (build it, or set RINGKV_BIN)"
                        % self.binary, pytrace=False)
        self.expect_exit = False
        self._log_fh = open(self.log_path, "ab")
        self._log_fh.write(("### %s\n" % " ".join(shlex.quote(a) for a in self.command_line())).encode())
        self._log_fh.flush()
        self.proc = subprocess.Popen(
            self.command_line(), cwd=str(self.dir), stdin=subprocess.DEVNULL,
            stdout=self._log_fh, stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=START_TIMEOUT_S):
        """Wait until PING answers (+PONG, or NOAUTH when a password is set)."""
        deadline = time.monotonic() + timeout
        last_err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("ringkv-server exited with code %s during start-up:\n%s"
                            % (self.proc.returncode, self.log_text()[-6000:]), pytrace=False)
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as s:
                    s.sendall(b"*1\r\n$4\r\nPING\r\n")
                    s.settimeout(2.0)
                    reply = s.recv(256)
                    if reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH"):
                        return
                    last_err = "unexpected reply %r" % reply
            except OSError as e:
                last_err = e
            time.sleep(0.02)
        self.kill()
        pytest.fail("ringkv-server did not answer PING within %.0fs (%s); log:\n%s"
                    % (timeout, last_err, self.log_text()[-6000:]), pytrace=False)

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self):
        if self.is_running():
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self._close_log()

    def _close_log(self):
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def stop(self, check=True):
        """SIGTERM, then SIGKILL after 5 s. Returns a problem description or
        None; with check=True a problem fails the caller."""
        if self.proc is None:
            return None
        problem = None
        if self.is_running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                problem = "did not exit within %.0fs of SIGTERM (killed)" % STOP_TIMEOUT_S
        self._close_log()
        code = self.proc.returncode
        if problem is None and code != 0 and not self.expect_exit:
            problem = ("exited with code %d" % code) if code > 0 else \
                      ("died from signal %d" % -code)
        log = self.log_text()
        for marker in SANITIZER_MARKERS:
            if marker in log:
                problem = (problem + "; " if problem else "") + "sanitizer report in log"
                break
        if problem and check:
            pytest.fail("ringkv-server on port %d %s; log tail:\n%s"
                        % (self.port, problem, log[-8000:]), pytrace=False)
        return problem

    def restart(self, wait=True):
        """Stop (checked) and start again with the same port, dir and args."""
        self.stop()
        return self.start(wait=wait)

    def client(self, **kw):
        kw.setdefault("socket_timeout", 10)
        return redis.Redis(host=self.host, port=self.port, **kw)

    def raw(self, timeout=10.0):
        return RespConn(self.host, self.port, timeout=timeout)

    def cli(self, *args, input=None, timeout=30):
        """Run redis-cli -h host -p port ARGS; returns its stdout (str)."""
        cmd = [cli_bin(), "-h", self.host, "-p", str(self.port)] + [str(a) for a in args]
        if isinstance(input, str):
            input = input.encode()
        res = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=timeout)
        return res.stdout.decode(errors="replace")

    def __repr__(self):
        return "<ringkv-server port=%d dir=%s>" % (self.port, self.dir)


@pytest.fixture(scope="module")
def ringkv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("ringkv"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def r(ringkv):
    if not ringkv.is_running():
        pytest.fail("the module's ringkv-server is no longer running; log tail:\n%s"
                    % ringkv.log_text()[-6000:], pytrace=False)
    client = ringkv.client()
    client.flushall()
    yield client
    client.close()


def stop_and_check(servers):
    """Stops every server; fails the test when one had crashed."""
    problems = []
    for server in servers:
        problem = server.stop(check=False)
        if problem:
            problems.append("%r %s; log tail:\n%s" % (server, problem, server.log_text()[-6000:]))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def start_server(tmp_path_factory):
    started = []

    def start(*args, config_file=None, wait=True, **directives):
        server = Server(tmp_path_factory.mktemp("ringkv-extra"), args=args,
                        directives=directives, config_file=config_file)
        started.append(server)
        return server.start(wait=wait)

    yield start
    stop_and_check(started)


# ---- helpers shared by the command-family tests ------------------------------

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INT = "value is not an integer or out of range"
NOT_FLOAT = "value is not a valid float"
SYNTAX = "syntax error"


def value_of(c, key):
    """(type, value) of a key, in a form two servers' answers compare by."""
    t = c.type(key).decode()
    if t == "string":
        return t, c.get(key)
    if t == "list":
        return t, c.lrange(key, 0, -1)
    if t == "hash":
        return t, c.hgetall(key)
    if t == "set":
        return t, c.smembers(key)
    if t == "zset":
        return t, c.zrange(key, 0, -1, withscores=True)
    raise AssertionError("unexpected type %s of %r" % (t, key))


def err(r, *args):
    """Runs a command that must fail; returns the error text."""
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def raw(r, *args):
    """The reply as parsed RESP, without redis-py's per-command conversions
    (SET -> bool, HINCRBYFLOAT -> float, COMMAND -> dict, ...)."""
    conn = r.connection_pool.get_connection(args[0])
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        r.connection_pool.release(conn)


# ---- helpers for the RDB persistence tests (test_rdb_*.py, test_snapshot_pit.py) ----

def persistence(c):
    """INFO persistence as a dict (redis-py converts numbers to int)."""
    return c.info("persistence")


def wait_bgsave_done(c, timeout=30.0):
    """Polls until rdb_bgsave_in_progress is 0; returns INFO persistence."""
    deadline = time.monotonic() + timeout
    while True:
        info = persistence(c)
        if info["rdb_bgsave_in_progress"] == 0:
            return info
        if time.monotonic() > deadline:
            raise AssertionError("BGSAVE still running after %.0fs: %r" % (timeout, info))
        time.sleep(0.02)


def wait_exit(server, timeout=STOP_TIMEOUT_S):
    """Waits for a server that was told to end (SHUTDOWN, a fatal start-up
    error); returns its exit code and closes its log."""
    server.expect_exit = True
    try:
        code = server.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        pytest.fail("%r did not exit within %.0fs; log tail:\n%s"
                    % (server, timeout, server.log_text()[-4000:]), pytrace=False)
    server._close_log()
    return code


@pytest.fixture
def server_in_dir():
    """Factory: server_in_dir(workdir, wait=True, **directives) starts a
    ringkv-server on an existing directory (to load what an earlier server
    saved there); each is stopped and checked at teardown."""
    started = []

    def start(workdir, wait=True, **directives):
        server = Server(workdir, directives=directives)
        started.append(server)
        return server.start(wait=wait)

    yield start
    stop_and_check(started)


class RealRedis:
    """Debian's redis-server 7.0 on a free port in `workdir` (which may hold
    a dump.rdb for it to load); no save points unless `args` say so."""

    def __init__(self, workdir, *args):
        exe = shutil.which("redis-server")
        if not exe:
            pytest.skip("redis-server not installed")
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = self.dir / "redis.log"
        cmd = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
               "--save", "", "--appendonly", "no", "--enable-debug-command", "yes",
               "--logfile", str(self.log_path)] + [str(a) for a in args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        client = self.client()
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, redis.BusyLoadingError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail("redis-server did not start; log:\n%s" % self.log_text()[-4000:],
                                pytrace=False)
                time.sleep(0.05)
        client.close()

    def client(self, **kw):
        kw.setdefault("socket_timeout", 10)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def real_redis_in_dir():
    """Factory: real_redis_in_dir(workdir, *args) -> RealRedis, stopped at teardown."""
    started = []

    def start(workdir, *args):
        server = RealRedis(workdir, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def prlimit_fsize(pid, soft):
    """Sets only the soft RLIMIT_FSIZE: raising a hard limit again needs
    CAP_SYS_RESOURCE, which containers often drop."""
    exe = shutil.which("prlimit")
    if not exe:
        pytest.skip("prlimit not installed")
    subprocess.run([exe, "--pid", str(pid), "--fsize=%s:" % soft], check=True, timeout=10)


# ---- replication helpers ----
# (tests/integration/test_repl_*.py; owner: the replication tests of issue 6)
#
# RINGKV_REPL_SELFTEST=redis makes every "ringkv" node of the replication
# tests a Debian redis-server instead, so each scenario can be proven against
# redis-server <-> redis-server before it judges ringkv. Nodes of kind
# "redis" are always redis-server.

def repl_selftest():
    return os.environ.get("RINGKV_REPL_SELFTEST", "") == "redis"


class RedisServer(Server):
    """Debian's redis-server with the Server interface (start/stop/kill/
    restart/client/log_text); it logs to stdout, which Server sends to
    server.log."""

    kind = "redis"

    def __init__(self, workdir, args=(), directives=None, port=None):
        exe = shutil.which("redis-server")
        if not exe:
            pytest.skip("redis-server not installed")
        super().__init__(workdir, args=args, directives=directives, binary=exe, port=port)

    def command_line(self):
        given = {k.replace("_", "-") for k in self.directives}
        cmd = [str(self.binary)]
        defaults = {"port": str(self.port), "bind": "127.0.0.1", "dir": str(self.dir),
                    "save": "", "appendonly": "no", "enable-debug-command": "yes"}
        for name, value in defaults.items():
            if name not in given:
                cmd += ["--" + name, value]
        return cmd + self.args + directive_args(self.directives)

    def __repr__(self):
        return "<redis-server port=%d dir=%s>" % (self.port, self.dir)


def make_node(workdir, kind="ringkv", args=(), directives=None, port=None):
    """A node of `kind` ("ringkv" or "redis"), not started; "ringkv" is a
    redis-server under RINGKV_REPL_SELFTEST=redis (a `shards` directive is
    then dropped). node.kind says which."""
    if kind not in ("ringkv", "redis"):
        raise ValueError(kind)
    if kind == "redis" or repl_selftest():
        directives = {k: v for k, v in (directives or {}).items() if k != "shards"}
        node = RedisServer(workdir, args=args, directives=directives, port=port)
    else:
        directives = dict(directives or {})
        directives.setdefault("save", "")
        node = Server(workdir, args=args, directives=directives, port=port)
        node.kind = "ringkv"
    node.role = kind          # what the test asked for
    return node


@pytest.fixture
def repl_node(tmp_path_factory):
    """Factory: repl_node(kind="ringkv", *args, wait=True, **directives) ->
    a started node (make_node); all are stopped and checked at teardown."""
    started = []

    def start(kind="ringkv", *args, wait=True, **directives):
        node = make_node(tmp_path_factory.mktemp("repl-" + kind), kind, args, directives)
        started.append(node)
        return node.start(wait=wait)

    yield start
    stop_and_check(started)


def node_client(node, **kw):
    """node.client(), with node.password (set by the test) when there is one."""
    if getattr(node, "password", None):
        kw.setdefault("password", node.password)
    return node.client(**kw)


def kill9(node):
    """kill -9, expected by the teardown check (start() clears that again)."""
    node.expect_exit = True
    node.kill()


def wait_until_ok(pred, timeout=30.0, what="condition"):
    """Polls pred() until it returns a true value (returned), taking a
    connection refused, LOADING or an error reply meanwhile as "not yet";
    AssertionError after `timeout` s with the last value or error."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except (redis.ConnectionError, redis.BusyLoadingError, redis.ResponseError) as e:
            last = e
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def wait_until(cond, timeout, what, interval=0.05):
    """Polls cond() until it returns a true value (returned); AssertionError
    naming `what` (a string or a callable giving one) after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("after %.0fs still not: %s"
                                 % (timeout, what() if callable(what) else what))
        time.sleep(interval)


def repl_info(node):
    c = node_client(node)
    try:
        return c.info("replication")
    finally:
        c.close()


def repl_stats(node):
    """(sync_full, sync_partial_ok, sync_partial_err) from INFO stats."""
    c = node_client(node)
    try:
        s = c.info("stats")
    finally:
        c.close()
    return s["sync_full"], s["sync_partial_ok"], s["sync_partial_err"]


def digest(node):
    c = node_client(node)
    try:
        d = c.execute_command("DEBUG", "DIGEST")
    finally:
        c.close()
    return d.decode() if isinstance(d, bytes) else d


def replicaof(node, host, port=None):
    """REPLICAOF host port, or NO ONE when host is None."""
    c = node_client(node)
    try:
        if host is None:
            return c.execute_command("REPLICAOF", "NO", "ONE")
        return c.execute_command("REPLICAOF", host, str(port))
    finally:
        c.close()


def link_up(node):
    info = repl_info(node)
    return info.get("role") == "slave" and info.get("master_link_status") == "up" \
        and not info.get("master_sync_in_progress")


def wait_link_up(node, timeout=60):
    return wait_until(lambda: link_up(node), timeout,
                      lambda: "%r master link up: %r\nlog tail:\n%s"
                      % (node, repl_info(node), node.log_text()[-3000:]))


def _converged(master, replicas):
    off = repl_info(master)["master_repl_offset"]
    for rep in replicas:
        info = repl_info(rep)
        if info.get("master_link_status") != "up" or info.get("slave_repl_offset") != off:
            return None
    digests = [digest(n) for n in [master] + list(replicas)]
    if repl_info(master)["master_repl_offset"] != off:
        return None             # something was written meanwhile: again
    return (off, digests[0]) if len(set(digests)) == 1 else None


def converge_report(master, replicas):
    lines = []
    for n in [master] + list(replicas):
        info = repl_info(n)
        lines.append("%r role=%s link=%s master_repl_offset=%s slave_repl_offset=%s digest=%s"
                     % (n, info.get("role"), info.get("master_link_status"),
                        info.get("master_repl_offset"), info.get("slave_repl_offset"), digest(n)))
        lines.append("  log tail: " + n.log_text()[-1500:].replace("\n", "\n    "))
    return "\n".join(lines)


def wait_converged(master, replicas, timeout=90):
    """Polls until every replica's link is up, its slave_repl_offset equals
    the master's master_repl_offset and every DEBUG DIGEST is the same (with
    the master's offset unchanged across the digests). Returns (offset,
    digest)."""
    return wait_until(lambda: _converged(master, replicas), timeout,
                      lambda: "converged:\n" + converge_report(master, replicas), interval=0.2)


def wait_log(node, pattern, timeout=30, start=0):
    """Waits until the node's log (from byte `start` on) matches the regex;
    returns the match."""
    import re
    rx = re.compile(pattern)
    return wait_until(lambda: rx.search(node.log_text()[start:]), timeout,
                      lambda: "log of %r matches %r; tail:\n%s"
                      % (node, pattern, node.log_text()[-3000:]))


def log_size(node):
    return len(node.log_text())


def mixed_writes(node, n, seed, prefix="mw", dbs=(0, 3, 9), batch=1000, short_ttl=True):
    """n writes over every type, in pipelines of `batch`, spread over the
    databases `dbs` and over keys of both shards: strings (SET/EX/PX, APPEND,
    INCR*, INCRBYFLOAT, SETRANGE, SETBIT, MSET, GETEX), lists (pushes, pops,
    LSET, LTRIM, LREM, LINSERT, LMOVE), hashes (HSET, HDEL, HINCRBY*),
    sets (SADD, SREM, SPOP, SMOVE, SUNIONSTORE), zsets (ZADD, ZINCRBY, ZREM,
    ZPOPMIN, ZREMRANGEBYRANK, ZUNIONSTORE), expiries (EXPIRE/PEXPIRE long and
    a few short ones that expire during the run, PERSIST, EXPIREAT), DEL,
    UNLINK, COPY, RENAME, and MULTI/EXEC blocks over keys of both shards.
    Replies are not checked (an error reply is propagated by nobody). Returns
    the number of commands sent."""
    import random
    rnd = random.Random(seed)
    clients = {db: node_client(node, db=db) for db in dbs}
    nkeys = 400

    def k(t):
        return "%s:%s:%d" % (prefix, t, rnd.randrange(nkeys))

    def val():
        return rnd.choice((b"v", b"val:%d" % rnd.randrange(10**6), bytes(rnd.randrange(256) for _ in range(20)),
                           b"x" * rnd.randrange(100, 3000)))

    def one(p):
        op = rnd.randrange(48)
        if op < 4:
            p.execute_command("SET", k("s"), val())
        elif op == 4:
            p.execute_command("SET", k("s"), val(), "EX", rnd.randrange(10000, 100000))
        elif op == 5:
            if short_ttl and rnd.random() < 0.3:
                p.execute_command("SET", k("s"), val(), "PX", rnd.randrange(1, 300))
            else:
                p.execute_command("SETEX", k("s"), rnd.randrange(10000, 100000), val())
        elif op == 6:
            p.execute_command("APPEND", k("s"), val())
        elif op == 7:
            p.execute_command("INCRBY", k("n"), rnd.randrange(-1000, 1000))
        elif op == 8:
            p.execute_command("INCRBYFLOAT", k("f"), "%.5f" % rnd.uniform(-100, 100))
        elif op == 9:
            p.execute_command("SETRANGE", k("s"), rnd.randrange(50), b"range")
        elif op == 10:
            p.execute_command("SETBIT", k("b"), rnd.randrange(4096), rnd.randrange(2))
        elif op == 11:
            p.execute_command("MSET", k("s"), val(), k("s"), val(), k("s"), val())
        elif op == 12:
            p.execute_command("GETEX", k("s"), "EX", rnd.randrange(10000, 100000))
        elif op in (13, 14):
            p.execute_command(rnd.choice(("LPUSH", "RPUSH")), k("l"), *[val() for _ in range(rnd.randrange(1, 4))])
        elif op == 15:
            p.execute_command(rnd.choice(("LPOP", "RPOP")), k("l"))
        elif op == 16:
            p.execute_command("LSET", k("l"), rnd.randrange(-3, 3), val())
        elif op == 17:
            p.execute_command("LTRIM", k("l"), 0, rnd.randrange(5, 60))
        elif op == 18:
            p.execute_command("LREM", k("l"), rnd.randrange(-2, 3), b"v")
        elif op == 19:
            p.execute_command("LINSERT", k("l"), rnd.choice(("BEFORE", "AFTER")), b"v", val())
        elif op == 20:
            p.execute_command("LMOVE", k("l"), k("l"), rnd.choice(("LEFT", "RIGHT")), rnd.choice(("LEFT", "RIGHT")))
        elif op in (21, 22):
            fields = []
            for _ in range(rnd.randrange(1, 4)):
                fields += [b"f%d" % rnd.randrange(50), val()]
            p.execute_command("HSET", k("h"), *fields)
        elif op == 23:
            p.execute_command("HDEL", k("h"), b"f%d" % rnd.randrange(50))
        elif op == 24:
            p.execute_command("HINCRBY", k("hn"), b"c%d" % rnd.randrange(10), rnd.randrange(-50, 50))
        elif op == 25:
            p.execute_command("HINCRBYFLOAT", k("hn"), b"x%d" % rnd.randrange(10), "%.3f" % rnd.uniform(-5, 5))
        elif op in (26, 27):
            p.execute_command("SADD", k("set"), *[b"m%d" % rnd.randrange(300) for _ in range(rnd.randrange(1, 5))])
        elif op == 28:
            p.execute_command("SREM", k("set"), b"m%d" % rnd.randrange(300))
        elif op == 29:
            p.execute_command("SPOP", k("set"), *([rnd.randrange(1, 3)] if rnd.random() < 0.5 else []))
        elif op == 30:
            p.execute_command("SMOVE", k("set"), k("set"), b"m%d" % rnd.randrange(300))
        elif op == 31:
            p.execute_command("SUNIONSTORE", k("set"), k("set"), k("set"))
        elif op in (32, 33):
            args = []
            for _ in range(rnd.randrange(1, 4)):
                args += [rnd.choice(("%d" % rnd.randrange(-100, 100), "%.4f" % rnd.uniform(-1e3, 1e3))),
                         b"z%d" % rnd.randrange(200)]
            p.execute_command("ZADD", k("z"), *args)
        elif op == 34:
            p.execute_command("ZINCRBY", k("z"), "%.2f" % rnd.uniform(-10, 10), b"z%d" % rnd.randrange(200))
        elif op == 35:
            p.execute_command("ZREM", k("z"), b"z%d" % rnd.randrange(200))
        elif op == 36:
            p.execute_command("ZPOPMIN", k("z"))
        elif op == 37:
            p.execute_command("ZREMRANGEBYRANK", k("z"), 0, rnd.randrange(3))
        elif op == 38:
            p.execute_command("ZUNIONSTORE", k("z"), 2, k("z"), k("z"), "WEIGHTS", 1, 2)
        elif op == 39:
            p.execute_command("EXPIRE", k(rnd.choice(("s", "l", "h", "z"))), rnd.randrange(10000, 100000))
        elif op == 40:
            if short_ttl and rnd.random() < 0.2:
                p.execute_command("PEXPIRE", k(rnd.choice(("s", "set", "h"))), rnd.randrange(1, 300))
            else:
                p.execute_command("PEXPIRE", k(rnd.choice(("s", "set", "h"))), rnd.randrange(10**7, 10**8))
        elif op == 41:
            p.execute_command("PERSIST", k(rnd.choice(("s", "l", "h", "set", "z"))))
        elif op == 42:
            p.execute_command("EXPIREAT", k("n"), int(time.time()) + rnd.randrange(10000, 100000))
        elif op == 43:
            p.execute_command("DEL", k(rnd.choice(("s", "l", "h", "set", "z", "n"))))
        elif op == 44:
            p.execute_command("UNLINK", k("s"), k("l"), k("h"))
        elif op == 45:
            p.execute_command("COPY", k("h"), k("h"), "REPLACE")
        elif op == 46:
            p.execute_command("RENAME", k("l"), k("l"))
        else:
            p.execute_command("INCR", k("n"))

    sent = 0
    try:
        while sent < n:
            db = rnd.choice(dbs)
            c = clients[db]
            if rnd.random() < 0.08:
                # MULTI/EXEC over keys of both shards (the prefixes spread them)
                p = c.pipeline(transaction=True)
                m = rnd.randrange(2, 8)
                for _ in range(m):
                    one(p)
                p.execute(raise_on_error=False)
                sent += m
                continue
            p = c.pipeline(transaction=False)
            m = min(batch, n - sent)
            for _ in range(m):
                one(p)
            p.execute(raise_on_error=False)
            sent += m
    finally:
        for c in clients.values():
            c.close()
    return sent
