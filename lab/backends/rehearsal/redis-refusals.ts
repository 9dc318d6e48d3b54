// `check`'s proofs that Redis and Sentinel refuse what they must, tried from another region's Redis
// or Sentinel host (it has redis-cli, and the firewalls let it through to both ports): plain text, a
// client certificate from another CA, a client without a user, and the app's user asking Sentinel to
// reconfigure or fail over. Each check's command is exported: redis-tls.test.ts runs the same commands
// against real redis-server and redis-sentinel with the generated TLS settings.
import { PORTS, type Topology } from "../../../lib/model";
import { PRODUCTION_TLS, type TlsFiles } from "../../../playbooks-gen/render-env";
import { sentinelMasterName } from "../../../playbooks-gen/views/clusters";
import { redisUser } from "../../../playbooks-gen/views/redis-acl";
import type { CheckItem } from "./check";
import { execOn } from "./hosts";

const sh = (host: string, script: string, timeoutMs = 30_000) => execOn(host, ["/bin/sh", "-c", script], { timeoutMs });
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Where a host's rogue certificate (made on the spot by `rogueCertScript`) sits. */
const ROGUE_DIR = "/tmp/shop-refusal-rogue";

/** The shell commands of the Redis/Sentinel refusal checks against `ip:port`, run on another host.
 * Every one prints what redis-cli answered and exits 0. Exported: the TLS test runs these same
 * commands against real servers, with its own CA's files in place of the deployment's. */
export function redisRefusalCommands(ip: string, port: number, files: TlsFiles = PRODUCTION_TLS, rogueDir = ROGUE_DIR) {
  const tls = `redis-cli --tls --cacert ${files.caFile} -h ${ip} -p ${port}`;
  const run = (cmd: string) => `${cmd} 2>&1; true`;
  return {
    /** No TLS: the server resets the connection (it speaks TLS only on this port). */
    plainText: run(`redis-cli -h ${ip} -p ${port} ping`),
    /** A client certificate from another CA: the handshake fails, so does the PING. */
    foreignCert: run(`${tls} --cert ${rogueDir}/cert.pem --key ${rogueDir}/key.pem ping`),
    /** The control: this host's own certificate from the deployment CA gets through TLS (to NOAUTH). */
    ownCert: run(`${tls} --cert ${files.certFile} --key ${files.keyFile} ping`),
    /** TLS, verified, but no user: NOAUTH. */
    noUser: (args: string) => run(`${tls} ${args}`),
    /** TLS as one of the generated users, the password from REDISCLI_AUTH. */
    asUser: (user: string, password: string, args: string) => run(`REDISCLI_AUTH=${q(password)} ${tls} --user ${q(user)} ${args}`),
  };
}

/** Makes a self-signed certificate (another CA) in `dir`, as an attacker on that host could. */
export const rogueCertScript = (dir = ROGUE_DIR) =>
  `mkdir -p ${dir} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ${dir}/key.pem -out ${dir}/cert.pem -days 1 -subj /CN=rogue 2>/dev/null`;

/** What the refusal commands' output must show. */
export const redisRefused = {
  /** The server dropped the connection before any answer (no PONG, no error reply). */
  noService: (out: string) => /^Error: (Connection reset by peer|Server closed the connection)/m.test(out) && !/PONG|NOAUTH|NOPERM/.test(out),
  /** An error reply naming why (NOAUTH, NOPERM). */
  reply: (out: string, word: string) => new RegExp(`\\b${word}\\b`).test(out),
};

/** Redis and Sentinel refuse plain text, a foreign certificate, a client without a user, and the
 * app's user reconfiguring Sentinel; tried from `from` against the primary at `redisIp` and the
 * Sentinel `sentinel` (another region). */
export async function checkRedisRefusals(t: Topology, vault: Record<string, string>, from: string, redisIp: string | undefined, sentinel: { name: string; ip: string }): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  const add = (name: string, ok: boolean, out: string) => items.push({ name, ok, detail: out.trim() });
  const via = `(from ${from})`;
  const app = redisUser("app");
  const appPassword = vault[app.vault] ?? "";
  await sh(from, rogueCertScript());
  const targets: Array<[string, string, number]> = [
    ...(redisIp ? [["Redis", redisIp, PORTS.redis] as [string, string, number]] : []),
    [`Sentinel on ${sentinel.name}`, sentinel.ip, PORTS.sentinel],
  ];
  for (const [what, ip, port] of targets) {
    const c = redisRefusalCommands(ip, port);
    const plain = (await sh(from, c.plainText)).stdout;
    add(`${what} answers no plain-text client ${via}`, redisRefused.noService(plain), plain);
    const own = (await sh(from, c.ownCert)).stdout;
    add(`${what} takes TLS with the host's own certificate from the CA (then wants a user) ${via}`, redisRefused.reply(own, "NOAUTH"), own);
    const foreign = (await sh(from, c.foreignCert)).stdout;
    add(`${what} refuses a client certificate from another CA ${via}`, redisRefused.noService(foreign), foreign);
  }
  if (redisIp) {
    const r = (await sh(from, redisRefusalCommands(redisIp, PORTS.redis).noUser("set refusal-check 1"))).stdout;
    add(`Redis refuses a client without a user, over TLS ${via}`, redisRefused.reply(r, "NOAUTH"), r);
  }
  const s = redisRefusalCommands(sentinel.ip, PORTS.sentinel);
  const noUser = (await sh(from, s.noUser(`sentinel get-master-addr-by-name ${sentinelMasterName(t)}`))).stdout;
  add(`Sentinel on ${sentinel.name} refuses a client without a user, over TLS ${via}`, redisRefused.reply(noUser, "NOAUTH"), noUser);
  for (const cmd of [`sentinel set ${sentinelMasterName(t)} quorum 1`, `sentinel failover ${sentinelMasterName(t)}`]) {
    const r = (await sh(from, s.asUser(app.name, appPassword, cmd))).stdout;
    add(`Sentinel on ${sentinel.name} refuses \`${cmd.split(" ").slice(0, 2).join(" ").toUpperCase()}\` to the app's user ${via}`, redisRefused.reply(r, "NOPERM"), r);
  }
  await sh(from, `rm -rf ${ROGUE_DIR}`);
  return items;
}
