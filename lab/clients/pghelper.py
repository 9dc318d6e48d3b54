"""Writer and prober for the failover lab (run with /usr/bin/python3: Debian's psycopg2).

writer: inserts numbered orders through HAProxy, one at a time, and prints one JSON line per
        attempt: {"id", "t0", "t1", "r": "ok"|"fail"|"info", "node", "err"}.
        ok = committed and acknowledged; fail = certainly not committed (no connection, or the
        server refused it with an error that rolls back); info = unknown (connection lost or
        cancelled mid-commit: the row may or may not exist).
probe:  polls pg_is_in_recovery() on every node directly and prints {"n", "t", "p"} per sample,
        p = 1 primary, 0 replica, null unreachable.
Both stop when stdin closes.
"""
import json
import sys
import threading
import time

import psycopg2

CONNECT_TIMEOUT = 2  # libpq's minimum


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def watch_stdin(stop):
    sys.stdin.read()
    stop.set()


def connect(dsn, statement_timeout_ms):
    conn = psycopg2.connect(dsn, connect_timeout=CONNECT_TIMEOUT,
                            options="-c statement_timeout=%d" % statement_timeout_ms)
    conn.autocommit = True
    return conn


def writer(cfg, stop):
    conn = None
    order_id = cfg["firstId"]
    interval = cfg["intervalMs"] / 1000.0
    while not stop.is_set():
        t0 = time.time()
        rec = {"id": order_id, "t0": t0}
        try:
            if conn is None:
                try:
                    conn = connect(cfg["dsn"], cfg["opTimeoutMs"])
                except psycopg2.Error as e:
                    rec.update(r="fail", err=str(e).strip()[:200])
                    raise
            # A commit waiting for a synchronous standby ignores statement_timeout's error: cancel
            # it from a timer and treat a "canceling wait for synchronous replication" notice as unknown.
            timer = threading.Timer(cfg["opTimeoutMs"] / 1000.0, conn.cancel)
            timer.start()
            try:
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO lab_orders (id) VALUES (%s) RETURNING node", (order_id,))
                    node = cur.fetchone()[0]
            finally:
                timer.cancel()
            if any("synchronous replication" in n for n in conn.notices):
                rec.update(r="info", err="commit wait for synchronous standby cancelled")
            else:
                rec.update(r="ok", node=node)
            del conn.notices[:]
        except psycopg2.Error as e:
            if "r" not in rec:
                code = getattr(e, "pgcode", None)
                # Class 08 (connection), 57 (operator intervention) and no code at all (connection
                # lost) can hit after the commit: unknown. Other server errors roll back: failed.
                certain = code is not None and code[:2] not in ("08", "57", "XX")
                rec.update(r="fail" if certain else "info", err=str(e).strip()[:200])
            if conn is not None:
                try:
                    conn.close()
                except psycopg2.Error:
                    pass
            conn = None
        rec["t1"] = time.time()
        emit(rec)
        order_id += 1
        left = interval - (time.time() - t0)
        if left > 0:
            stop.wait(left)


def probe(cfg, stop):
    conns = {}
    while not stop.is_set():
        t_round = time.time()
        for name, dsn in cfg["nodes"].items():
            t = time.time()
            p = None
            try:
                if name not in conns:
                    conns[name] = connect(dsn, 1000)
                with conns[name].cursor() as cur:
                    cur.execute("SELECT NOT pg_is_in_recovery()")
                    p = 1 if cur.fetchone()[0] else 0
            except psycopg2.Error:
                old = conns.pop(name, None)
                if old is not None:
                    try:
                        old.close()
                    except psycopg2.Error:
                        pass
            emit({"n": name, "t": t, "p": p})
        left = cfg["intervalMs"] / 1000.0 - (time.time() - t_round)
        if left > 0:
            stop.wait(left)


def main():
    cfg = json.loads(sys.argv[2])
    stop = threading.Event()
    threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    {"writer": writer, "probe": probe}[sys.argv[1]](cfg, stop)


if __name__ == "__main__":
    main()
