"""The real daemon end to end against a real MariaDB (greyd's MySQL driver and schema): real SYNs from a
sender namespace through NFLOG into greyd's `entries` table, with the server stopped in the middle of a burst
and started again. Afterwards every connection the firewall rule counted is exactly one pcount increment:
nothing lost, nothing refreshed twice. The burst, the namespaces and the accounting helpers are the fault
tests'.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.integration.daemon_harness import V4, V6, Site, burst, rule_counts
from tests.integration.netns import send_raw, syn_packets
from tests.integration.servers import MariadbServer, mariadb_server  # noqa: F401 (fixture)
from tests.integration.test_daemon_faults import totals, wait_total

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.server]


def my_rows(server: MariadbServer) -> dict[str, tuple[int, int, str]]:
    """greyd's IP rows as {ip: (bcount, pcount, greyd_host)}, read over the server's own connection."""
    conn = server.connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT ip, bcount, pcount, greyd_host FROM entries WHERE `from` = '' AND `to` = ''")
        return {ip: (bcount, pcount, host) for ip, bcount, pcount, host in cur.fetchall()}


def mysql_site(server: MariadbServer) -> Site:
    """greyd.conf with greyd's MySQL driver on the server's Unix socket (the daemon runs in a namespace
    whose loopback is not the server's; the socket's directory is private, hence drop_privs = 0)."""
    site = Site()
    site.write(batch_events=20, globals_="drop_privs = 0",
               database=f'driver = "/usr/lib/greyd/greyd_mysql.so"\n  socket = "{server.socket}"\n'
                        '  name = "greyd"\n  user = "root"')
    return site


def test_mariadb_restarted_during_a_burst(pair, mariadb_server):  # noqa: F811
    mariadb_server.reset_greyd_schema()
    site = mysql_site(mariadb_server)
    total = lambda: sum(r[1] for r in my_rows(mariadb_server).values())  # noqa: E731
    stopped = False
    try:
        with site.daemon(pair.gateway) as daemon:
            send_raw(pair.sender, syn_packets(["203.0.113.250"], "198.51.100.1", 25, [39999]))
            assert wait_total(total, 1) == 1
            assert burst(pair, range(44000, 44010)) == 300   # the daemon is committing these when
            mariadb_server.stop()                             # the server shuts down
            stopped = True
            assert burst(pair, range(44010, 44020)) == 300   # these arrive while it is down
            time.sleep(2)
            mariadb_server.start()
            stopped = False
            assert wait_total(total, 601) == 601
            assert daemon.stop() == 0
        host = socket.gethostname()
        assert my_rows(mariadb_server) == {"203.0.113.250": (0, 1, host)} | {
            ip: (0, 20, host) for ip in V4 + V6}
        assert rule_counts(pair.gateway)[0] == 601
        (received, refreshed, _spilled, retries, drops, _), = totals(site)
        assert (received, refreshed, drops) == (601, 601, 0) and retries >= 1
        delayed = f"database write delayed, will retry: mysql://{mariadb_server.socket}/greyd: "
        assert any(line.startswith(delayed) for line in site.log_lines())
    finally:
        site.cleanup()
        if stopped:  # the session fixture's server must outlive a failure here
            mariadb_server.start()
