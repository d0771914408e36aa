"""tcpproxy.py: a small threaded TCP proxy for the replication tests (issue 6).

A replica is pointed at the proxy instead of its master, so a test can break,
stall or corrupt the link without touching either server:

  cut()       closes every live connection pair at once and refuses new
              connections (accepted, then closed at once) until restore();
  pause()     stops forwarding without closing anything (a slow link: the
              bytes wait in the kernel's socket buffers, then in the sender's
              output buffer), in one direction or both, at once or after a
              given number of further bytes; resume() lets them flow again;
  inject()    sends extra bytes to the connected clients (the "down"
              direction, target -> client: master -> replica), between two
              forwarded chunks;
  stats()     bytes forwarded per direction, connections accepted/refused.

Directions: "up" is client -> target (replica -> master), "down" is
target -> client (master -> replica).

Threads: one acceptor, and per connection pair one pump per direction. All
shared state is guarded by one lock (a test thread calls cut/pause/...).
Bounds: a pump holds at most one chunk (CHUNK bytes) plus the bytes injected
and not yet sent; both sockets of a pair get fixed SO_RCVBUF/SO_SNDBUF
(SOCKBUF), which also turns off the kernel's receive-buffer autotuning, so a
paused link holds a known, small amount in the proxy's sockets and the rest
stays on the sender. Every wait polls at POLL_S so cut/close interrupt it;
close() joins every thread.
"""

import select
import socket
import threading
import time

CHUNK = 64 * 1024
SOCKBUF = 256 * 1024
POLL_S = 0.05
DIRECTIONS = ("up", "down")


class _Pair:
    """One client connection and its connection to the target."""

    def __init__(self, client, upstream):
        self.client = client
        self.upstream = upstream
        self.closed = False
        self.inject = bytearray()       # pending bytes for the client (down direction)
        self.injected = threading.Condition()
        self.done = set()               # directions whose source reached EOF
        self.threads = []

    def sockets(self, direction):
        """(source, destination) of a direction."""
        return (self.client, self.upstream) if direction == "up" else (self.upstream, self.client)


class TcpProxy:
    """TcpProxy(target_port, target_host="127.0.0.1"): listens on a free
    loopback port (self.port) once start() returned."""

    def __init__(self, target_port, target_host="127.0.0.1", listen_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.host = listen_host
        self.port = None
        self._lock = threading.Lock()
        self._pairs = []
        self._cut = False
        self._closing = False
        self._paused = {"up": False, "down": False}
        self._limit = {"up": None, "down": None}     # pause once the total reaches this
        self._bytes = {"up": 0, "down": 0}
        self._accepted = 0
        self._refused = 0
        self._listener = None
        self._acceptor = None

    # ---- life cycle -------------------------------------------------------

    def start(self):
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((self.host, 0))
        lsock.listen(16)
        lsock.settimeout(POLL_S)
        self._listener = lsock
        self.port = lsock.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name="tcpproxy-accept", daemon=True)
        self._acceptor.start()
        return self

    def close(self):
        """Stops accepting, closes every pair, joins every thread."""
        with self._lock:
            self._closing = True
            pairs = list(self._pairs)
        for pair in pairs:
            self._close_pair(pair)
        if self._acceptor is not None:
            self._acceptor.join(5)
        for pair in pairs:
            for t in pair.threads:
                t.join(5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ---- controls ---------------------------------------------------------

    def cut(self):
        """Closes every live pair; new connections are refused until restore()."""
        with self._lock:
            self._cut = True
            pairs = list(self._pairs)
        for pair in pairs:
            self._close_pair(pair)
        for pair in pairs:
            for t in pair.threads:
                if t is not threading.current_thread():
                    t.join(5)

    def restore(self):
        with self._lock:
            self._cut = False

    def pause(self, direction="both", after=0):
        """Stops forwarding in `direction` ("up", "down", "both") once `after`
        more bytes went that way (0: at once). Nothing is closed."""
        with self._lock:
            for d in self._dirs(direction):
                if after:
                    self._limit[d] = self._bytes[d] + after
                else:
                    self._paused[d] = True

    def resume(self, direction="both"):
        with self._lock:
            for d in self._dirs(direction):
                self._paused[d] = False
                self._limit[d] = None

    def inject(self, data, timeout=10.0):
        """Sends `data` to every connected client (master -> replica) between
        two forwarded chunks; returns the number of pairs it reached once
        every one sent it."""
        with self._lock:
            pairs = [p for p in self._pairs if not p.closed]
        for pair in pairs:
            with pair.injected:
                pair.inject += data
        deadline = time.monotonic() + timeout
        for pair in pairs:
            with pair.injected:
                while pair.inject and not pair.closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError("tcpproxy: injected bytes not sent within %.0fs" % timeout)
                    pair.injected.wait(min(left, POLL_S))
        return len(pairs)

    def stats(self):
        with self._lock:
            return {"up": self._bytes["up"], "down": self._bytes["down"],
                    "accepted": self._accepted, "refused": self._refused,
                    "live": sum(1 for p in self._pairs if not p.closed),
                    "held": {d: self._held(d) for d in DIRECTIONS}}

    def wait_live(self, n=1, timeout=30.0):
        """Waits until at least n pairs are connected."""
        deadline = time.monotonic() + timeout
        while self.stats()["live"] < n:
            if time.monotonic() > deadline:
                raise AssertionError("tcpproxy: fewer than %d live connections after %.0fs: %r"
                                     % (n, timeout, self.stats()))
            time.sleep(POLL_S)

    def wait_held(self, direction, timeout=30.0):
        """Waits until `direction` reached its pause point (pause(after=N))."""
        deadline = time.monotonic() + timeout
        while not self.stats()["held"][direction]:
            if time.monotonic() > deadline:
                raise AssertionError("tcpproxy: %s direction not held after %.0fs: %r"
                                     % (direction, timeout, self.stats()))
            time.sleep(POLL_S)

    # ---- internals --------------------------------------------------------

    @staticmethod
    def _dirs(direction):
        if direction == "both":
            return DIRECTIONS
        if direction not in DIRECTIONS:
            raise ValueError("direction must be up, down or both, not %r" % (direction,))
        return (direction,)

    def _held(self, d):
        """Lock held: whether direction d may not forward now."""
        return self._paused[d] or (self._limit[d] is not None and self._bytes[d] >= self._limit[d])

    def _budget(self, d):
        """Lock held: bytes direction d may read now (0: held)."""
        if self._paused[d]:
            return 0
        if self._limit[d] is None:
            return CHUNK
        return max(0, min(CHUNK, self._limit[d] - self._bytes[d]))

    @staticmethod
    def _tune(sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKBUF)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKBUF)

    def _accept_loop(self):
        while True:
            with self._lock:
                if self._closing:
                    return
            try:
                client, _addr = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                refuse = self._cut or self._closing
                if refuse:
                    self._refused += 1
            if refuse:
                client.close()
                continue
            self._tune(client)
            try:
                upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self._tune(upstream)       # before connect: the window is fixed at the handshake
                upstream.settimeout(5)
                upstream.connect(self.target)
            except OSError:
                upstream.close()
                client.close()             # the target is down: the client sees the link drop
                with self._lock:
                    self._refused += 1
                continue
            client.setblocking(False)
            upstream.setblocking(False)
            pair = _Pair(client, upstream)
            with self._lock:
                if self._cut or self._closing:
                    self._refused += 1
                    pair = None
                else:
                    self._accepted += 1
                    self._pairs = [p for p in self._pairs if not p.closed]
                    self._pairs.append(pair)
            if pair is None:
                client.close()
                upstream.close()
                continue
            for d in DIRECTIONS:
                t = threading.Thread(target=self._pump, args=(pair, d),
                                     name="tcpproxy-%s-%d" % (d, self.port), daemon=True)
                pair.threads.append(t)
            for t in pair.threads:
                t.start()

    def _close_pair(self, pair):
        with self._lock:
            if pair.closed:
                return
            pair.closed = True
        for s in (pair.client, pair.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        with pair.injected:
            pair.injected.notify_all()

    def _send_all(self, pair, dst, data):
        """Sends data unless the pair closes first; False when it did."""
        view = memoryview(data)
        while view:
            if pair.closed:
                return False
            try:
                _r, w, _x = select.select([], [dst], [], POLL_S)
                if not w:
                    continue
                n = dst.send(view)
            except (BlockingIOError, InterruptedError):
                continue
            except (OSError, ValueError):
                return False
            view = view[n:]
        return True

    def _pump(self, pair, d):
        src, dst = pair.sockets(d)
        try:
            while not pair.closed:
                if d == "down":
                    with pair.injected:
                        extra = bytes(pair.inject)
                    if extra:
                        if not self._send_all(pair, dst, extra):
                            return
                        with pair.injected:
                            del pair.inject[:len(extra)]
                            pair.injected.notify_all()
                        continue
                with self._lock:
                    budget = self._budget(d)
                if budget == 0:
                    time.sleep(POLL_S)
                    continue
                try:
                    r, _w, _x = select.select([src], [], [], POLL_S)
                    if not r:
                        continue
                    # budget again, and the count, under the lock: a
                    # pause() returning means nothing more is read
                    with self._lock:
                        budget = self._budget(d)
                        data = src.recv(budget) if budget else None
                        if data:
                            self._bytes[d] += len(data)
                except (BlockingIOError, InterruptedError):
                    continue
                except (OSError, ValueError):
                    return
                if data is None:
                    continue
                if not data:
                    # EOF: pass it on as a half-close; the pair ends when
                    # both directions ended (or an error closes it)
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    with self._lock:
                        pair.done.add(d)
                        both = len(pair.done) == 2
                    if both:
                        return
                    # keep the pair until the other side closes too; a
                    # target that died leaves the client to notice the FIN
                    return
                if not self._send_all(pair, dst, data):
                    return
        finally:
            with self._lock:
                finished = pair.done == set(DIRECTIONS)
                errored = d not in pair.done
            if finished or errored:
                self._close_pair(pair)
