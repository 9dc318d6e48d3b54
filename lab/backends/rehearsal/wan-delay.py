#!/usr/bin/python3
"""The rehearsal's WAN: delays (or drops) the packets that cross between regions' VPCs.

Runs inside the rehearsal's fabric namespace, where the kernel forwards between the regions' bridges
as VPC peering does. For each region it makes a TUN device and a policy route: a packet that enters
from region A's bridge for region B's VPC goes to A's TUN; this process reads it and, after the one-way
delay (RTT / 2), writes it into B's TUN, from where the kernel delivers it to B's bridge. A region pair
listed in the cut file (one "A B" pair per line, re-read every 50 ms) is partitioned: its packets are
dropped. The round trip can change while it runs (`npm run rehearse -- wan --wan-rtt MS` writes the rtt
file, re-read every 50 ms too); packets already in flight keep the delay they were given. The kernel here has no netem (LAB-NOTES). Standard library only; run as root with
/usr/bin/python3. The TUN devices are not persistent: when this process dies they vanish with their
routes, and the fabric forwards directly again.

Usage: wan-delay.py CONFIG.json   {"rttMs": 60, "cutFile": "...", "rttFile": "...", "regions": [{"slug", "bridge", "vpc"}]}
"""

import fcntl
import heapq
import ipaddress
import json
import os
import select
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
config = json.load(open(sys.argv[1]))
delay = config["rttMs"] / 2000.0
regions = config["regions"]
nets = [(ipaddress.ip_network(r["vpc"]), i) for i, r in enumerate(regions)]


def ip(*args):
    subprocess.run(["ip", *args], check=True)


def sysctl(key, value):
    with open("/proc/sys/net/ipv4/" + key.replace(".", "/"), "w") as f:
        f.write(value)


fds = []
for i, r in enumerate(regions):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ("wan%d" % i).encode(), IFF_TUN | IFF_NO_PI))
    fds.append(fd)
    ip("link", "set", "wan%d" % i, "up")
    # Packets written into wan<i> come from other regions: no reverse-path check on them.
    sysctl("conf.wan%d.rp_filter" % i, "0")
sysctl("conf.all.rp_filter", "0")
for i, r in enumerate(regions):
    table = str(100 + i)
    for j, other in enumerate(regions):
        if j != i:
            ip("route", "replace", other["vpc"], "dev", "wan%d" % i, "table", table)
    ip("rule", "add", "iif", r["bridge"], "lookup", table, "pref", table)

queue = []
seq = 0
cut = set()
cut_checked = 0.0
print("ready", flush=True)


def region_of(packet):
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    dst = ipaddress.IPv4Address(packet[16:20])
    for net, i in nets:
        if dst in net:
            return i
    return None


while True:
    now = time.monotonic()
    if now - cut_checked > 0.05:
        cut_checked = now
        try:
            lines = open(config["cutFile"]).read().split("\n")
            cut = {frozenset(l.split()) for l in lines if len(l.split()) == 2}
        except FileNotFoundError:
            cut = set()
        try:
            delay = float(open(config["rttFile"]).read().strip()) / 2000.0
        except (FileNotFoundError, ValueError):
            pass
    timeout = 0.05 if not queue else max(0.0, min(0.05, queue[0][0] - now))
    ready, _, _ = select.select(fds, [], [], timeout)
    for src in ready:
        a = fds.index(src)
        for _ in range(64):
            try:
                packet = os.read(src, 65535)
            except BlockingIOError:
                break
            b = region_of(packet)
            if b is None or b == a or frozenset((regions[a]["slug"], regions[b]["slug"])) in cut:
                continue
            seq += 1
            heapq.heappush(queue, (time.monotonic() + delay, seq, a, b, packet))
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        _, _, a, b, packet = heapq.heappop(queue)
        if frozenset((regions[a]["slug"], regions[b]["slug"])) in cut:
            continue  # cut while in flight
        try:
            os.write(fds[b], packet)
        except OSError:
            pass
