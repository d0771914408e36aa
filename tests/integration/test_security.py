"""Authentication (requirepass, AUTH, HELLO ... AUTH, RESET) and protected mode.

Protected mode (Redis 7 semantics): with protected-mode yes (the default) and
no password for the default user, only clients connecting from a loopback
address (127.0.0.0/8, ::1) or a Unix socket are served; any other client
receives one "-DENIED Redis is running in protected mode ..." error and is
disconnected. Tests run on loopback, so the denial is only tested when this
machine has a non-loopback IPv4 address to bind and connect to."""

import socket
import subprocess

import pytest

from conftest import RespConn, RespError

NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
DENIED_PREFIX = (b"-DENIED Redis is running in protected mode because protected mode is "
                 b"enabled and no password is set for the default user.")


def non_loopback_ipv4():
    """A local IPv4 address that is not loopback, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("198.51.100.1", 9))        # no packet is sent for UDP connect
            addr = s.getsockname()[0]
            if not addr.startswith("127.") and addr != "0.0.0.0":
                return addr
    except OSError:
        pass
    try:
        out = subprocess.run(["hostname", "-I"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=5).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        return None
    for addr in out.split():
        if "." in addr and not addr.startswith("127."):
            return addr
    return None


@pytest.fixture
def secured(start_server):
    return start_server(requirepass="s3cret")


@pytest.mark.smoke
def test_noauth_before_auth(secured):
    with secured.raw() as c:
        for cmd in (("GET", "k"), ("PING",), ("SET", "k", "v"), ("SELECT", "1")):
            c.send(*cmd)
            reply = c.read()
            assert isinstance(reply, RespError) and str(reply) == NOAUTH, cmd
        assert not c.is_closed(timeout=0.2)


@pytest.mark.smoke
def test_auth_wrong_then_right(secured):
    with secured.raw() as c:
        c.send("AUTH", "nope")
        assert str(c.read()) == WRONGPASS
        c.send("AUTH", "default", "nope")
        assert str(c.read()) == WRONGPASS
        c.send("AUTH", "nosuchuser", "s3cret")
        assert str(c.read()) == WRONGPASS
        c.send("GET", "k")
        assert str(c.read()) == NOAUTH
        assert c.call("AUTH", "s3cret") == "OK"
        assert c.call("SET", "k", "v") == "OK"
        assert c.call("GET", "k") == b"v"


def test_auth_with_username_default(secured):
    with secured.raw() as c:
        assert c.call("AUTH", "default", "s3cret") == "OK"
        assert c.call("PING") == "PONG"


def test_auth_syntax_error(secured):
    with secured.raw() as c:
        c.send("AUTH", "a", "b", "c")
        assert str(c.read()) == "ERR syntax error"


def test_redis_py_client_with_password(secured):
    with secured.client(password="s3cret") as c:
        assert c.set("a", 1) is True
        assert c.get("a") == b"1"


def test_auth_without_password_configured(ringkv):
    with ringkv.raw() as c:
        c.send("AUTH", "x")
        assert str(c.read()) == ("ERR AUTH <password> called without any password configured "
                                 "for the default user. Are you sure your configuration is correct?")
        # the default user has nopass: any password is accepted with a username
        assert c.call("AUTH", "default", "anything") == "OK"


def test_hello_requires_auth(secured):
    with secured.raw() as c:
        c.send("HELLO", "3")
        assert str(c.read()) == (
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            "HELLO AUTH <user> <pass> option can be used to authenticate the client and "
            "select the RESP protocol version at the same time")


@pytest.mark.smoke
def test_hello3_auth(secured):
    with secured.raw() as c:
        c.send("HELLO", "3", "AUTH", "default", "wrong")
        assert str(c.read()) == WRONGPASS
        c.send("GET", "k")
        assert str(c.read()) == NOAUTH
        hello = c.call("HELLO", "3", "AUTH", "default", "s3cret")
        assert isinstance(hello, dict) and hello["proto"] == 3
        c.send("GET", "k")
        assert c.read_line() == b"_"                  # authenticated, and RESP3


def test_hello2_auth_setname(secured):
    with secured.raw() as c:
        reply = c.call("HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "me")
        assert isinstance(reply, list)
        assert c.call("CLIENT", "GETNAME") == b"me"


def test_reset_deauthenticates(secured):
    with secured.raw() as c:
        assert c.call("AUTH", "s3cret") == "OK"
        c.send("RESET")
        assert c.read_line() == b"+RESET"
        c.send("GET", "k")
        assert str(c.read()) == NOAUTH


def test_unauthenticated_big_multibulk_refused(secured):
    with secured.raw(timeout=3) as c:
        c.send_raw(b"*20\r\n")
        assert c.read_line() == b"-ERR Protocol error: unauthenticated multibulk length"
        assert c.is_closed()
    with secured.raw(timeout=3) as c:
        c.send_raw(b"*1\r\n$20000\r\n")
        assert c.read_line() == b"-ERR Protocol error: unauthenticated bulk length"
        assert c.is_closed()


def test_config_set_requirepass(start_server):
    server = start_server()
    with server.client() as admin:
        assert admin.config_set("requirepass", "later") is True
        # the connection that set it stays authenticated
        assert admin.ping() is True
    with server.raw() as c:
        c.send("PING")
        assert str(c.read()) == NOAUTH
        assert c.call("AUTH", "later") == "OK"


# --- protected mode -------------------------------------------------------------

@pytest.mark.smoke
def test_protected_mode_allows_loopback(start_server):
    server = start_server(protected_mode="yes")
    with server.raw() as c:
        assert c.call("PING") == "PONG"
        assert c.call("CONFIG", "GET", "protected-mode") == [b"protected-mode", b"yes"]


def _connect_and_ping(addr, port):
    """Connect from `addr`; returns the first complete reply line. A denied
    client gets its error unprompted, so nothing is sent until the server
    had a moment to speak (sending first could turn the close into a reset
    that discards the error)."""
    with socket.create_connection((addr, port), timeout=5) as s:
        data = b""
        try:
            s.settimeout(0.3)
            try:
                data = s.recv(65536)
                if not data:
                    return data
            except socket.timeout:
                s.settimeout(5)
                s.sendall(RespConn.encode("PING"))
            while not data.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        return data


def test_protected_mode_denies_non_loopback(start_server):
    addr = non_loopback_ipv4()
    if addr is None:
        pytest.skip("no non-loopback IPv4 address on this machine: protected mode's denial "
                    "of remote clients cannot be exercised from loopback")
    server = start_server(bind="0.0.0.0", protected_mode="yes")
    data = _connect_and_ping(addr, server.port)
    assert data.startswith(DENIED_PREFIX), data[:200]
    with socket.create_connection((addr, server.port), timeout=5) as s:
        s.settimeout(5)
        got = b""
        try:
            while True:                            # server must close after DENIED
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:               # closed with the PING unread
            pass
        assert got == b"" or got.startswith(DENIED_PREFIX)
    with server.raw() as c:                       # loopback still served
        assert c.call("PING") == "PONG"


def test_protected_mode_off_or_password_allows_non_loopback(start_server):
    addr = non_loopback_ipv4()
    if addr is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    open_server = start_server(bind="0.0.0.0", protected_mode="no")
    data = _connect_and_ping(addr, open_server.port)
    assert data == b"+PONG\r\n"
    pw_server = start_server(bind="0.0.0.0", protected_mode="yes", requirepass="pw")
    data = _connect_and_ping(addr, pw_server.port)
    assert data == b"-" + NOAUTH.encode() + b"\r\n"
