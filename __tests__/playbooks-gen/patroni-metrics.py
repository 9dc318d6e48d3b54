# Prints the /metrics body Debian's Patroni 3.0.2 serves on a replica that cannot read its timeline
# (its `timeline` status is None), produced by Patroni's own handler (RestApiHandler.do_GET_metrics)
# with the status a replica reports. Run with Debian's python3: /usr/bin/python3 patroni-metrics.py
import types

from patroni.api import RestApiHandler

status = {
    "state": "running", "role": "replica", "server_version": 150005, "cluster_unlocked": False, "timeline": None,
    "xlog": {"received_location": 50331800, "replayed_location": 50331800, "replayed_timestamp": None, "paused": False},
    "dcs_last_seen": 1700000000,
}
handler = RestApiHandler.__new__(RestApiHandler)
handler.get_postgresql_status = lambda retry=False: status
handler.server = types.SimpleNamespace(patroni=types.SimpleNamespace(
    version="3.0.2",
    postgresql=types.SimpleNamespace(scope="shop-production", pending_restart=False),
    ha=types.SimpleNamespace(is_paused=lambda: False),
))
handler._write_response = lambda code, body, content_type=None, headers=None: print(body, end="")
handler.do_GET_metrics()
