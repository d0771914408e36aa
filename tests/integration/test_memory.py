"""INFO memory: used_memory (the sum of every shard's heap counter) follows
what the process really takes when a million keys are added."""

import pytest


def mem(c):
    info = c.info("memory")
    return info["used_memory"], info["used_memory_rss"]


@pytest.mark.slow
def test_used_memory_tracks_rss_growth_for_1m_keys(start_server):
    srv = start_server()
    c = srv.client()
    used0, rss0 = mem(c)
    assert c.execute_command("DEBUG", "POPULATE", 1000000, "key", 32) == b"OK"
    assert c.dbsize() == 1000000
    used1, rss1 = mem(c)
    grow_used, grow_rss = used1 - used0, rss1 - rss0
    assert grow_rss > 50 * 1024 * 1024, (grow_used, grow_rss)
    # Within a few percent of what the kernel charged the process.
    assert abs(grow_used - grow_rss) / grow_rss < 0.08, (grow_used, grow_rss)
    c.flushall()
    used2, _ = mem(c)
    assert used2 - used0 < grow_used * 0.05, (used0, used2)
