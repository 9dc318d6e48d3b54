#!/usr/bin/python3
"""The failover lab's stand-in for a host's kernel watchdog (softdog).

Patroni's `testing` watchdog driver (patroni/watchdog/linux.py, TestingWatchdogDevice) opens its
device like /dev/watchdog but, instead of ioctls, writes "Ctimeout=N\\n" to set the timeout; a
keepalive is any other byte, and "V" right before closing disarms it (the magic close). This stand-in
owns that device, a named pipe, and behaves like softdog behind it:

- the first write arms it; "Ctimeout=N" sets the timeout and counts as a keepalive;
- "V" disarms it (Patroni writes it only when it closes the device on purpose: a killed or frozen
  Patroni never does, which is the point);
- when an armed watchdog goes `timeout` seconds without a keepalive, it resets the host: every
  process the lab started on it (from the lab's state.json) and the PostgreSQL server of its data
  directory get SIGKILL at once, as a hardware reset would stop them.

A host paused as a whole (every process SIGSTOPped, this one included: the lab's stand-in for a
host behind a partition) pauses its watchdog too: time spent stopped does not count.

Status (armed, timeout, resets) is written as JSON to --status on every change, for the lab's drills.
"""
import argparse
import json
import os
import pwd
import select
import signal
import sys
import time


def log(msg):
    print(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime()) + f",{int(time.time() * 1000) % 1000:03d} {msg}", flush=True)


def stat_of(pid):
    """(state, ppid, start time) of a process, or None; fields after the command name (which may hold spaces)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2:].split(" ")
    return rest[0], int(rest[1]), rest[19]


def host_processes(state_file, host, pgdata):
    """PIDs to stop: the lab's processes of `host` (checked against their recorded start time, so a
    recycled PID is never hit) and the postmaster of `pgdata` with its children."""
    pids = []
    try:
        with open(state_file) as f:
            procs = json.load(f).get("procs", {})
    except (OSError, ValueError) as e:
        log(f"cannot read the lab state {state_file}: {e}")
        procs = {}
    for key, p in procs.items():
        if not key.startswith(host + "/") or key == host + "/watchdog":
            continue
        s = stat_of(p["pid"])
        if s and s[0] != "Z" and s[2] == p["startTime"]:
            pids.append(p["pid"])
    if pgdata:
        try:
            with open(os.path.join(pgdata, "postmaster.pid")) as f:
                pm = int(f.readline())
            with open(f"/proc/{pm}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if pgdata.encode() in argv or b"--pgdata=" + pgdata.encode() in argv:
                pids.append(pm)
                for entry in os.listdir("/proc"):
                    if entry.isdigit():
                        s = stat_of(int(entry))
                        if s and s[1] == pm and s[0] != "Z":
                            pids.append(int(entry))
        except (OSError, ValueError):
            pass
    return pids


class Watchdog:
    def __init__(self, args):
        self.args = args
        self.armed = False
        self.timeout = 60.0  # the testing driver's default until Patroni sets one
        self.deadline = 0.0
        self.resets = []
        self.arms = 0
        self.last_keepalive = None
        self._cmd = None  # a "C…" command being read, up to its newline

    def write_status(self):
        tmp = self.args.status + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"armed": self.armed, "timeoutSeconds": self.timeout, "arms": self.arms, "resets": self.resets}, f)
        os.replace(tmp, self.args.status)

    def keepalive(self, now):
        if not self.armed:
            self.armed = True
            self.arms += 1
            log(f"armed, timeout {self.timeout:g} s")
        self.deadline = now + self.timeout
        self.last_keepalive = time.time()

    def feed(self, data, now):
        changed = False
        buf = self._cmd
        for b in data:
            c = chr(b)
            if buf is not None:
                if c == "\n":
                    if buf.startswith("timeout="):
                        self.timeout = float(buf[len("timeout="):])
                        log(f"timeout set to {self.timeout:g} s")
                    buf = None
                    self.keepalive(now)
                    changed = True
                else:
                    buf += c
            elif c == "C":
                buf = ""
            elif c == "V":
                if self.armed:
                    log("disarmed (magic close)")
                self.armed = False
                changed = True
            else:
                was = self.armed
                self.keepalive(now)
                changed = changed or not was
        self._cmd = buf
        return changed

    def reset(self):
        pids = host_processes(self.args.state, self.args.host, self.args.pgdata)
        # Freeze first, then kill: nothing of the host runs on while the others are being killed.
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        late = time.time() - (self.last_keepalive or time.time())
        log(f"no keepalive for {late:.1f} s (timeout {self.timeout:g} s): host {self.args.host} reset, killed pids {pids}")
        self.resets.append({"at": time.time(), "killed": pids})
        self.armed = False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", required=True, help="named pipe Patroni opens as its watchdog device")
    ap.add_argument("--host", required=True, help="lab host this watchdog resets")
    ap.add_argument("--state", required=True, help="the lab's state.json (processes by host/service)")
    ap.add_argument("--pgdata", default="", help="PostgreSQL data directory of the host")
    ap.add_argument("--status", required=True, help="JSON status file")
    ap.add_argument("--owner", default="", help="user that must be able to open the device (Patroni's)")
    args = ap.parse_args()

    if os.path.lexists(args.device):
        os.unlink(args.device)
    os.mkfifo(args.device, 0o600)
    if args.owner and os.getuid() == 0:
        pw = pwd.getpwnam(args.owner)
        os.chown(args.device, pw.pw_uid, pw.pw_gid)
    # Read-write: opening never blocks, Patroni's O_WRONLY open never waits for a reader, and the pipe
    # never reports end-of-file when Patroni closes it.
    fd = os.open(args.device, os.O_RDWR | os.O_NONBLOCK)
    wd = Watchdog(args)
    wd.write_status()

    def stop(*_):
        try:
            os.unlink(args.device)
        except OSError:
            pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"watchdog stand-in for {args.host} on {args.device}")

    tick = 0.1
    while True:
        before = time.monotonic()
        wait = max(0.0, min(tick, wd.deadline - before)) if wd.armed else tick
        ready, _, _ = select.select([fd], [], [], wait)
        now = time.monotonic()
        paused = now - before - wait
        if paused > 1.0 and wd.armed:
            # This process was stopped with the rest of the host: the host's clock stood still.
            wd.deadline += paused
            log(f"host paused for {paused:.1f} s: deadline moved by as much")
        if ready:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                data = b""
            if data and wd.feed(data, now):
                wd.write_status()
        if wd.armed and now >= wd.deadline:
            wd.reset()
            wd.write_status()

if __name__ == "__main__":
    main()
