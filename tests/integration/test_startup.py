"""Start-up and shutdown behaviour of the real binary."""

import subprocess

from conftest import server_bin


def test_port_in_use_refuses_to_start(ringkv):
    # SO_REUSEPORT must not let a second server join the first one's port.
    proc = subprocess.run([str(server_bin()), "--port", str(ringkv.port), "--bind", "127.0.0.1",
                           "--dir", str(ringkv.dir)], capture_output=True, text=True, timeout=10)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Address already in use" in out
    assert f"Failed listening on port {ringkv.port} (tcp), aborting." in out
    assert ringkv.client().ping()


def test_shutdown_stops_the_process(start_server):
    srv = start_server()
    srv.expect_exit = True
    c = srv.client()
    try:
        c.execute_command("SHUTDOWN", "NOSAVE")
    except Exception:
        pass  # the connection closes without a reply, as with Redis
    assert srv.proc.wait(timeout=10) == 0
    assert "ready to exit" in srv.log_text()


def test_sigterm_logs_and_exits_cleanly(start_server):
    srv = start_server()
    srv.expect_exit = True
    srv.proc.terminate()
    assert srv.proc.wait(timeout=10) == 0
    log = srv.log_text()
    assert "Received SIGTERM scheduling shutdown" in log
