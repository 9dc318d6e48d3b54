#!/usr/bin/python3
"""Userspace inter-region WAN for the failover lab (this kernel has no netem).

Every "node" (a region, or a single host) lives in its own network namespace; the root namespace is
the zero-delay client node. Each namespace gets a TUN device routing the other nodes' loopback
addresses to this process, which reads IPv4 packets, finds the destination node by address, and
writes them to that node's TUN after the one-way delay of the region pair (RTT = 2 x delay), or
drops them while the two regions are partitioned.

Standard library only; run as root with /usr/bin/python3. Usage: wan-forwarder.py CONFIG.json
The process sets the network up, serves JSON-line commands on a unix socket, and on SIGTERM/SIGINT,
or when the parent process named in the config is gone, removes everything it created and exits.
The TUN devices are not persistent: if this process dies, they vanish with their routes, so the root
namespace never keeps routes to a dead forwarder.
"""

import collections
import ctypes
import errno
import fcntl
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

IP = "/usr/sbin/ip"
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
MTU = 65000
READ_BURST = 64  # packets read from one TUN before looking at the others (fairness)
PARENT_CHECK_S = 0.5

libc = ctypes.CDLL(None, use_errno=True)


def log(msg):
    sys.stdout.write("%s wan-forwarder: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stdout.flush()


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


def ip_batch(commands):
    """Runs `ip -batch -` in the current network namespace (subprocesses inherit it)."""
    text = "".join(c + "\n" for c in commands)
    r = subprocess.run([IP, "-batch", "-"], input=text, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("ip -batch failed: %s\ncommands:\n%s" % (r.stderr.strip(), text))


def write_sysctl(path, value):
    # /proc/sys/net resolves to the namespace of the task that opens the file.
    with open("/proc/sys/" + path, "w") as f:
        f.write(value)


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def proc_start_time(pid):
    """Field 22 of /proc/PID/stat, or None when the process is gone or a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2:].split(" ")
    return None if rest[0] in ("Z", "X") else rest[19]


def kill_inside(netns):
    r = subprocess.run([IP, "netns", "pids", netns], capture_output=True, text=True)
    pids = [int(p) for p in r.stdout.split() if p.isdigit() and int(p) != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if pids:
        log("killed %d process(es) left in %s: %s" % (len(pids), netns, " ".join(map(str, pids))))


class Node:
    def __init__(self, name, region, netns, tun, addresses):
        self.name = name
        self.region = region
        self.netns = netns  # None for the root namespace
        self.tun = tun
        self.addresses = addresses
        self.fd = -1


class Wan:
    def __init__(self, cfg):
        self.cfg = cfg
        self.client = Node(cfg["client"]["name"], cfg["client"]["name"], None, cfg["client"]["tun"], [cfg["client"]["address"]])
        self.nodes = [Node(n["name"], n["region"], n["netns"], "wan0", n["addresses"]) for n in cfg["nodes"]]
        self.by_addr = {}
        for node in [self.client] + self.nodes:
            for a in node.addresses:
                self.by_addr[socket.inet_aton(a)] = node
        self.by_fd = {}
        self.by_name = {n.name: n for n in [self.client] + self.nodes}
        self.default_delay = float(cfg.get("oneWayDelayMs", 0)) / 1000.0
        self.pair_delay = {}  # frozenset({regionA, regionB}) -> seconds
        self.client_delay = float(cfg.get("clientDelayMs", 0)) / 1000.0
        self.cut = set()  # frozensets of partitioned region pairs
        self.queue_limit = int(cfg.get("queueLimitBytes", 32 << 20))
        self.queues = {}  # (src node name, dst node name) -> deque of (due, packet)
        self.queue_bytes = collections.Counter()
        self.stats = collections.Counter()
        self.created_netns = []
        self.root_ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.stopping = False

    # ---- set-up and tear-down -------------------------------------------------------------
    def setup(self):
        for node in self.nodes:
            self.setup_node(node)
        self.setup_client()

    def setup_node(self, node):
        r = subprocess.run([IP, "netns", "add", node.netns], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("ip netns add %s: %s" % (node.netns, r.stderr.strip()))
        self.created_netns.append(node.netns)
        nsfd = os.open("/run/netns/" + node.netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(nsfd)
            node.fd = open_tun(node.tun)
            self.configure_tun(node.tun)
            # Other loopback addresses must not be local here, or the kernel would answer them itself.
            cmds = ["link set lo up", "route del local 127.0.0.0/8 dev lo table local"]
            cmds += ["addr add %s/32 dev lo" % a for a in node.addresses]
            cmds.append("link set %s mtu %d up" % (node.tun, MTU))
            src = node.addresses[0]  # connections leave with one of our addresses, so replies come back
            for other in [self.client] + self.nodes:
                if other is not node:
                    cmds += ["route add %s/32 dev %s src %s" % (a, node.tun, src) for a in other.addresses]
            ip_batch(cmds)
        finally:
            setns(self.root_ns)
            os.close(nsfd)
        self.by_fd[node.fd] = node

    def setup_client(self):
        node = self.client
        node.fd = open_tun(node.tun)
        self.by_fd[node.fd] = node
        self.configure_tun(node.tun)
        # The root namespace keeps its `local 127.0.0.0/8`; more specific unicast routes in the local
        # table (looked up first) send only the lab's host addresses to the TUN.
        cmds = ["link set %s mtu %d up" % (node.tun, MTU)]
        for other in self.nodes:
            cmds += ["route add %s/32 dev %s table local src %s" % (a, node.tun, node.addresses[0]) for a in other.addresses]
        ip_batch(cmds)

    @staticmethod
    def configure_tun(tun):
        write_sysctl("net/ipv4/conf/%s/route_localnet" % tun, "1")  # 127/8 may cross this device
        write_sysctl("net/ipv4/conf/%s/rp_filter" % tun, "0")
        try:
            write_sysctl("net/ipv6/conf/%s/disable_ipv6" % tun, "1")  # no IPv6 chatter on the TUN
        except OSError:
            pass

    def teardown(self):
        for fd in list(self.by_fd):
            try:
                os.close(fd)  # non-persistent TUN: the device and its routes go with the last fd
            except OSError:
                pass
        self.by_fd.clear()
        for ns in self.created_netns:
            # Whatever still runs inside would keep the namespace alive, nameless and unreachable.
            kill_inside(ns)
            r = subprocess.run([IP, "netns", "del", ns], capture_output=True, text=True)
            if r.returncode != 0:
                log("ip netns del %s: %s" % (ns, r.stderr.strip()))
        self.created_netns = []

    # ---- policy ----------------------------------------------------------------------------
    def delay(self, src, dst):
        if src.region == dst.region:
            return 0.0
        if src is self.client or dst is self.client:
            return self.client_delay
        return self.pair_delay.get(frozenset((src.region, dst.region)), self.default_delay)

    def blocked(self, src, dst):
        # A cut is between two regions, or (one namespace per host) between two nodes.
        if not self.cut:
            return False
        return (src.region != dst.region and frozenset((src.region, dst.region)) in self.cut) or frozenset((src.name, dst.name)) in self.cut

    # ---- data path -------------------------------------------------------------------------
    def read_tun(self, fd, now):
        src = self.by_fd[fd]
        for _ in range(READ_BURST):
            try:
                pkt = os.read(fd, MTU + 1024)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EINTR):
                    return
                raise
            if len(pkt) < 20 or pkt[0] >> 4 != 4:
                self.stats["dropped_not_ipv4"] += 1
                continue
            dst = self.by_addr.get(pkt[16:20])
            if dst is None or dst is src:
                self.stats["dropped_no_route"] += 1
                continue
            if self.blocked(src, dst):
                self.stats["dropped_partition"] += 1
                continue
            key = (src.name, dst.name)
            q = self.queues.get(key)
            d = self.delay(src, dst)
            if d <= 0 and not q:
                self.send(dst, pkt)
                continue
            if self.queue_bytes[key] + len(pkt) > self.queue_limit:
                self.stats["dropped_queue_full"] += 1  # tail drop, like a full router buffer
                continue
            if q is None:
                q = self.queues[key] = collections.deque()
            # Never earlier than the packet ahead: lowering the delay must not reorder a flow.
            due = now + d
            if q and q[-1][0] > due:
                due = q[-1][0]
            q.append((due, pkt))
            self.queue_bytes[key] += len(pkt)

    def send(self, dst, pkt):
        try:
            os.write(dst.fd, pkt)
            self.stats["forwarded"] += 1
            self.stats["forwarded_bytes"] += len(pkt)
        except OSError:
            self.stats["dropped_write_error"] += 1

    def flush(self, now):
        """Sends every packet that is due; returns seconds until the next one (or None)."""
        nxt = None
        for key in list(self.queues):
            q = self.queues[key]
            src, dst = self.node(key[0]), self.node(key[1])
            while q and q[0][0] <= now:
                _, pkt = q.popleft()
                self.queue_bytes[key] -= len(pkt)
                if self.blocked(src, dst):
                    self.stats["dropped_partition"] += 1  # cut while in flight
                else:
                    self.send(dst, pkt)
            if q:
                wait = q[0][0] - now
                nxt = wait if nxt is None else min(nxt, wait)
            else:
                del self.queues[key]
        return nxt

    def node(self, name):
        return self.by_name[name]

    # ---- control ---------------------------------------------------------------------------
    def regions(self):
        return sorted({n.region for n in self.nodes} | {self.client.region})

    def command(self, msg):
        cmd = msg.get("cmd")
        known = set(self.regions()) | set(self.by_name)

        def region(k):
            r = msg.get(k)
            if r not in known:
                raise ValueError("unknown region or node %r (known: %s)" % (r, ", ".join(sorted(known))))
            return r

        if cmd == "status":
            pass
        elif cmd == "partition":
            a, b = region("a"), region("b")
            if a == b:
                raise ValueError("cannot partition %s from itself" % a)
            self.cut.add(frozenset((a, b)))
        elif cmd == "heal":
            if "a" in msg:
                self.cut.discard(frozenset((region("a"), region("b"))))
            else:
                self.cut.clear()
        elif cmd == "delay":
            ms = float(msg["ms"])
            if ms < 0 or ms > 10000:
                raise ValueError("delay must be within 0..10000 ms")
            if "a" in msg:
                pair = frozenset((region("a"), region("b")))
                if not pair <= set(self.regions()):
                    raise ValueError("delays are set between regions, not hosts")
                self.pair_delay[pair] = ms / 1000.0
            else:
                self.default_delay = ms / 1000.0
                self.pair_delay.clear()
        elif cmd == "stop":
            self.stopping = True
        else:
            raise ValueError("unknown command %r" % cmd)
        return {
            "ok": True,
            "pid": os.getpid(),
            "oneWayDelayMs": self.default_delay * 1000.0,
            "pairDelayMs": [{"a": sorted(k)[0], "b": sorted(k)[1], "ms": v * 1000.0} for k, v in self.pair_delay.items()],
            "partitions": [sorted(k) for k in self.cut],
            "queuedBytes": sum(self.queue_bytes.values()),
            "stats": dict(self.stats),
        }

    # ---- main loop -------------------------------------------------------------------------
    def run(self):
        ctl_path = self.cfg["controlSocket"]
        try:
            os.unlink(ctl_path)
        except FileNotFoundError:
            pass
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ctl.bind(ctl_path)
        os.chmod(ctl_path, 0o600)
        ctl.listen(16)
        ctl.setblocking(False)
        conns = {}  # fd -> [socket, buffer]
        ep = select.epoll()
        for fd in self.by_fd:
            ep.register(fd, select.EPOLLIN)
        ep.register(ctl.fileno(), select.EPOLLIN)
        parent = self.cfg.get("parent")
        next_parent_check = 0.0
        log("ready: %d nodes, pid %d, control %s" % (len(self.nodes), os.getpid(), ctl_path))
        try:
            while not self.stopping:
                now = time.monotonic()
                if parent and now >= next_parent_check:
                    next_parent_check = now + PARENT_CHECK_S
                    if proc_start_time(parent["pid"]) != parent["startTime"]:
                        log("parent %d is gone, shutting down" % parent["pid"])
                        break
                wait = self.flush(now)
                timeout = PARENT_CHECK_S if wait is None else min(wait, PARENT_CHECK_S)
                try:
                    events = ep.poll(timeout)
                except InterruptedError:
                    continue
                now = time.monotonic()
                for fd, _ in events:
                    if fd in self.by_fd:
                        self.read_tun(fd, now)
                    elif fd == ctl.fileno():
                        self.accept(ctl, ep, conns)
                    else:
                        self.serve(fd, ep, conns)
        finally:
            for s, _ in conns.values():
                s.close()
            ctl.close()
            try:
                os.unlink(ctl_path)
            except OSError:
                pass

    @staticmethod
    def accept(ctl, ep, conns):
        try:
            s, _ = ctl.accept()
        except BlockingIOError:
            return
        s.setblocking(False)
        conns[s.fileno()] = [s, b""]
        ep.register(s.fileno(), select.EPOLLIN)

    def serve(self, fd, ep, conns):
        s, buf = conns[fd]
        try:
            data = s.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data or len(buf) > 1 << 20:
            ep.unregister(fd)
            s.close()
            del conns[fd]
            return
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                reply = self.command(json.loads(line))
            except Exception as e:  # a bad command must never take the network down
                reply = {"ok": False, "error": str(e)}
            try:
                s.setblocking(True)
                s.sendall((json.dumps(reply) + "\n").encode())
                s.setblocking(False)
            except OSError:
                pass
        conns[fd][1] = buf


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: wan-forwarder.py CONFIG.json\n")
        return 2
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    wan = Wan(cfg)

    def stop(signum, _frame):
        wan.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        wan.setup()
        wan.run()
        return 0
    except Exception as e:
        log("error: %s" % e)
        return 1
    finally:
        wan.teardown()
        log("stopped; %s" % json.dumps(dict(wan.stats)))


if __name__ == "__main__":
    sys.exit(main())
