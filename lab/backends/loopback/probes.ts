// What the loopback lab asks its servers over their own protocols (etcd's JSON gateway, Patroni's REST
// API, RESP), as functions of addresses; the Lab turns addresses into host names around them.
import { PORTS } from "../../../lib/model";
import { redisOnce, type RedisAuth } from "../../clients/resp";
import type { Member } from "../types";
import { httpsJson, httpsRequest, type TlsClient } from "../../clients/https";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function getJson(url: string, timeoutMs = 1500): Promise<any> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return res.json();
}

/** etcd takes TLS only, with a client certificate from the deployment CA; these reads (health, status,
 * member list) need no etcd user. */
const etcd = (addr: string, p: string) => `https://${addr}:${PORTS.etcdClient}${p}`;
const patroni = (addr: string, p: string) => `https://${addr}:${PORTS.patroniApi}${p}`;

export function etcdMemberHealthy(addr: string, tls: TlsClient): Promise<boolean> {
  return httpsJson(etcd(addr, "/health"), tls).then((j) => j?.health === "true", () => false);
}

/**
 * An etcd member's peers (the other members of its own cluster: the standby-cluster layout runs one
 * etcd cluster per region) and how many of them it has an active connection to (`etcd_network_active_peers`).
 */
export async function etcdPeerLinks(addr: string, tls: TlsClient): Promise<{ readonly active: number; readonly peers: number }> {
  const list = await httpsJson(etcd(addr, "/v3/cluster/member/list"), tls, { method: "POST", body: "{}" });
  if (!Array.isArray(list?.members)) throw new Error(`${addr}: no member list (${JSON.stringify(list).slice(0, 200)})`);
  const { status, body } = await httpsRequest(etcd(addr, "/metrics"), tls);
  if (status !== 200) throw new Error(`${addr}: /metrics answered ${status}`);
  const active = body.split("\n").filter((l) => l.startsWith("etcd_network_active_peers{") && Number(l.split(" ").pop()) >= 1).length;
  return { active, peers: list.members.length - 1 };
}

/** The etcd leader's member name, asked of the first member that answers (`addrs` by host name). */
export async function etcdLeaderName(addrs: ReadonlyMap<string, string>, tls: TlsClient): Promise<string | null> {
  const post = (addr: string, p: string) => httpsJson(etcd(addr, p), tls, { method: "POST", body: "{}" });
  for (const [name, addr] of addrs) {
    const st = await post(addr, "/v3/maintenance/status").catch(() => null);
    if (!st?.leader) continue;
    if (st.leader === st.header.member_id) return name;
    const list = await post(addr, "/v3/cluster/member/list");
    return (list.members as Array<{ ID: string; name: string }>).find((m) => m.ID === st.leader)?.name ?? null;
  }
  return null;
}

/** Members of a Patroni cluster, from the first of `addrs` that answers. */
export async function patroniMembers(addrs: readonly string[], tls: TlsClient): Promise<Member[]> {
  for (const a of addrs) {
    const c = await httpsJson(patroni(a, "/cluster"), tls).catch(() => null);
    if (c?.members) return c.members as Member[];
  }
  return [];
}

/** Members streaming WAL from the node at `addr` (Patroni's /patroni `replication`). */
export async function patroniStreaming(addr: string, tls: TlsClient): Promise<Set<string>> {
  const st = await httpsJson(patroni(addr, "/patroni"), tls);
  return new Set((st?.replication ?? []).filter((r: { state: string }) => r.state === "streaming").map((r: { application_name: string }) => r.application_name));
}

export function patroniAnswers(addr: string, tls: TlsClient): Promise<boolean> {
  return httpsJson(patroni(addr, "/health"), tls, { timeoutMs: 1000 }).then(() => true, () => false);
}

/** The primary's address a Sentinel names; null when it names none; rejects when it does not answer. */
export async function sentinelMasterAddr(addr: string, masterName: string, auth: RedisAuth): Promise<string | null> {
  const r = await redisOnce(addr, PORTS.sentinel, auth, ["SENTINEL", "get-master-addr-by-name", masterName]);
  return Array.isArray(r) ? String(r[0]) : null;
}

/** A Redis server's `INFO replication`, with the addresses of its online replicas; null when it does not answer. */
export async function redisReplicationAt(addr: string, auth: RedisAuth): Promise<{ role: "master" | "replica"; connected: number; online: string[] } | null> {
  const info = await redisOnce(addr, PORTS.redis, auth, ["INFO", "replication"]).then(String, () => null);
  if (info === null) return null;
  const master = /^role:master\b/m.test(info);
  return {
    role: master ? "master" : "replica",
    connected: master ? Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0) : 0,
    online: master ? [...info.matchAll(/^slave\d+:ip=([^,]+),port=\d+,state=online\b/gm)].map((m) => m[1]) : [],
  };
}
