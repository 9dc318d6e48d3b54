// The rehearsal's life cycle: `up` (image, mirror, networks, hosts booted through cloud-init, the
// deploy outputs file), `status`, `exec`, `down`. State is kept in <root>/state.json for people and
// reports; `down` does not depend on it: it finds everything by the rehearsal's names (namespaces
// `shoprh-*`, cgroups `shoprh/`, mounts and loop devices under the root), so an interrupted `up` is
// cleaned too.
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { spawn } from "child_process";
import { loadTopology, type Topology } from "../../../lib/model";
import { synthesize } from "../../../lib/synth";
import { ensureAptRepo, ensureBaseDir, ensureBaseTarball, ensureRehearsalTls, packagesOf } from "./image";
import { attachVolume, boot, cgroupDir, cgroupProcs, execOn, hostDirs, initPid, loopDevicesOf, ourCgroups, prepareDisk, removeCgroups, shutdown } from "./hosts";
import { deleteNamespace, makeFabric, makeHostNetwork, netnsPath, networkConfig, ourNamespaces } from "./net";
import { deployOutputs, EDGE_ADDRESS, EDGE_PORT, OPERATOR_ADDRESS, SPACES_ADDRESS, SPACES_DOMAIN, planOf, rehearsalPaths, type Plan, type RehearsalPaths } from "./plan";
import { alive, poll, run, runOk } from "./sys";
import { applyRuleset, rehearsalRulesets, withRehearsalAdmin } from "./firewall";
import { buildAppRepository, APP_SETTINGS } from "./app-repo";

export interface RehearsalState {
  readonly topologyFile: string;
  readonly wanRttMs: number;
  readonly upAt: string;
  hosts: Record<string, { nspawnPid?: number; loopDevice?: string }>;
  operatorPids?: number[];
  /** The synthesized cloud firewalls are loaded into the hosts' namespaces (false: `up --no-firewall`). */
  firewall?: boolean;
  /** The image layer every host's disk sits on (powerOn boots a host again on it). */
  baseDir?: string;
  timings: Record<string, number>;
}

export { RehearsalError } from "./errors";
import { RehearsalError } from "./errors";

const MIRROR_PORT = 443;
/** Disk per host after a real install (LAB-NOTES: ≈ 0.6 GB), plus the image and the mirror. */
const DISK_PER_HOST_GB = 0.8;
const DISK_BASE_GB = 3;

/** What the machine must have; every missing piece at once, with the command that installs it. */
export function preflight(hostCount: number, root: string, firewall = true): void {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push("the rehearsal must run as root (it makes network namespaces, mounts and containers)");
  const tools: Array<[string, string]> = [
    ["systemd-nspawn", "systemd-container"], ["mmdebstrap", "mmdebstrap"], ["ip", "iproute2"], ["nsenter", "util-linux"],
    ["losetup", "mount"], ["mkfs.ext4", "e2fsprogs"], ["dnsmasq", "dnsmasq-base"], ["dpkg-scanpackages", "dpkg-dev"], ["apt-ftparchive", "apt-utils"],
    ["openssl", "openssl"], ["git", "git"], ["ansible-playbook", "ansible"], ["ansible-vault", "ansible"], ["ssh-keygen", "openssh-client"],
    // The cloud firewalls (firewall.ts); `up --no-firewall` runs without them.
    ...(firewall ? [["nft", "nftables"] as [string, string]] : []),
  ];
  const missing = tools.filter(([bin]) => run(["sh", "-c", `command -v ${bin}`]).code !== 0);
  if (missing.length) problems.push(`missing programs: ${missing.map(([b]) => b).join(", ")} — install them with: apt-get install -y ${[...new Set(missing.map(([, p]) => p))].join(" ")}`);
  if (!fs.readFileSync("/proc/filesystems", "utf8").includes("overlay")) problems.push("the kernel has no overlay file system (each host's disk is an overlay of the image)");
  for (const h of ["systemd", "unified", "freezer"]) if (!fs.existsSync(path.join("/sys/fs/cgroup", h))) problems.push(`no cgroup hierarchy /sys/fs/cgroup/${h} (the hosts are placed, frozen and found there)`);
  if (run(["ip", "netns", "list"]).code !== 0) problems.push("network namespaces are not available (`ip netns list` failed)");
  // Measured on the nearest existing folder: a failed preflight leaves nothing behind.
  let existing = path.resolve(root);
  while (!fs.existsSync(existing)) existing = path.dirname(existing);
  const free = fs.statfsSync(existing);
  const needGb = DISK_BASE_GB + DISK_PER_HOST_GB * hostCount;
  const freeGb = (free.bavail * free.bsize) / 2 ** 30;
  if (freeGb < needGb) problems.push(`not enough disk under ${root}: ${freeGb.toFixed(1)} GiB free, ${needGb.toFixed(1)} GiB needed for ${hostCount} hosts`);
  if (problems.length) throw new RehearsalError(`this machine cannot run the rehearsal:\n  - ${problems.join("\n  - ")}`);
}

export function readState(p: RehearsalPaths): RehearsalState | null {
  try {
    return JSON.parse(fs.readFileSync(p.state, "utf8")) as RehearsalState;
  } catch {
    return null;
  }
}

export function writeState(p: RehearsalPaths, s: RehearsalState): void {
  fs.writeFileSync(`${p.state}.tmp`, JSON.stringify(s, null, 2));
  fs.renameSync(`${p.state}.tmp`, p.state);
}

/** The user's topology with the app pointed at the reference shop app served on the rehearsal network
 * (a user's own topology points at the user's own repository). */
export function rehearsalTopology(topologyFile: string, p: RehearsalPaths, version: string): Topology {
  // The operator (Ansible, ssh-keyscan) connects from the rehearsal's public side: listed among the admin
  // CIDRs as a user lists their office, so the synthesized SSH rule admits it as written.
  const doc = withRehearsalAdmin(yaml.load(fs.readFileSync(topologyFile, "utf8")) as Record<string, Record<string, unknown>> & { ssh?: { adminCidrs?: string[] } });
  doc.app = { ...doc.app, ...APP_SETTINGS, version };
  fs.writeFileSync(p.topology, `# The rehearsal's copy of ${topologyFile}: the app comes from the rehearsal's git mirror; the operator is an admin CIDR.\n${yaml.dump(doc, { lineWidth: -1 })}`);
  return loadTopology(p.topology);
}

export interface UpOptions {
  readonly topologyFile: string;
  readonly root: string;
  readonly wanRttMs: number;
  readonly log: (line: string) => void;
  /** Load the synthesized cloud firewalls into the hosts' namespaces (default true). */
  readonly firewall?: boolean;
}

export async function up(o: UpOptions): Promise<{ plan: Plan; t: Topology }> {
  const p = rehearsalPaths(path.resolve(o.root));
  const userTopology = loadTopology(o.topologyFile);
  if (readState(p) || ourNamespaces().length) throw new RehearsalError(`a rehearsal is already up (or was interrupted): run \`npm run rehearse -- down\` first`);
  const firewall = o.firewall ?? true;
  preflight(planOf(userTopology).hosts.length, p.root, firewall);
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const lap = (what: string, since: number) => { timings[what] = Math.round((Date.now() - since) / 100) / 10; };
  for (const d of [p.cache, p.hosts, p.logs, path.join(p.operator, ".ssh")]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });

  // 1. The reference app, served as a git repository, and the rehearsal's topology pointing at it.
  let since = Date.now();
  const mirrorRoot = path.join(p.root, "mirror");
  const version = buildAppRepository(path.join(mirrorRoot, "git"), p.cache, o.log);
  const t = rehearsalTopology(o.topologyFile, p, version);
  const plan = planOf(t);
  lap("app repository", since);

  // 2. The operator's SSH key (stands in for the DigitalOcean SSH key the topology names).
  if (!fs.existsSync(p.sshKey)) runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "shop-rehearsal operator", "-f", p.sshKey]);
  const publicKey = fs.readFileSync(`${p.sshKey}.pub`, "utf8").trim();

  // 3. Synthesize the stacks: the droplets' user_data is what cloud-init gets.
  since = Date.now();
  const synthDir = path.join(p.root, "synth");
  synthesize(t, synthDir);
  const userData = userDataOf(synthDir, publicKey);
  const outputs = deployOutputs(plan);
  fs.writeFileSync(p.outputs, JSON.stringify(outputs, null, 2) + "\n");
  // The cloud firewalls, resolved to the rehearsal's addresses (a stack the rehearsal cannot map fails here, before anything boots).
  const rulesets = firewall ? rehearsalRulesets(plan, synthDir) : null;
  lap("synth", since);

  // 4. Image and mirror (cached after the first time).
  since = Date.now();
  const tarball = ensureBaseTarball(p.cache, o.log);
  const tls = ensureRehearsalTls(p.cache, t.regions.map((r) => r.slug));
  const base = ensureBaseDir(p.cache, tarball, tls.ca, o.log);
  const cloudPackages = [...new Set(Object.values(userData).flatMap((u) => ((yaml.load(u) as { packages?: string[] }).packages ?? [])))];
  const repo = ensureAptRepo(p.cache, base, packagesOf(t, outputs, cloudPackages), o.log);
  fs.mkdirSync(mirrorRoot, { recursive: true });
  fs.rmSync(path.join(mirrorRoot, "debian"), { force: true });
  fs.symlinkSync(repo, path.join(mirrorRoot, "debian"));
  lap("image and mirror", since);

  const state: RehearsalState = { topologyFile: path.resolve(o.topologyFile), wanRttMs: o.wanRttMs, upAt: new Date().toISOString(), hosts: {}, timings, baseDir: base, firewall };
  writeState(p, state);

  // 5. Networks, the mirror server, then every host.
  since = Date.now();
  makeFabric(plan);
  const spacesRoot = path.join(p.root, "spaces");
  fs.mkdirSync(spacesRoot, { recursive: true });
  state.operatorPids = [
    startOperatorService(plan, path.join(p.logs, "mirror.log"), ["/usr/bin/python3", besideThis("mirror.py"), OPERATOR_ADDRESS, String(MIRROR_PORT), mirrorRoot, tls.mirror.cert, tls.mirror.key]),
    startOperatorService(plan, path.join(p.logs, "spaces.log"), ["/usr/bin/python3", besideThis("spaces-stand-in.py"), SPACES_ADDRESS, String(MIRROR_PORT), spacesRoot, tls.spaces.cert, tls.spaces.key]),
    // The droplets' resolver: names the rehearsal stands in for (Spaces), nothing else (an instant "no").
    // The WAN between the regions' VPCs: always there (with --wan-rtt 0 it only carries partitions).
    startOperatorService(plan, path.join(p.logs, "wan.log"), ["/usr/bin/python3", besideThis("wan-delay.py"), writeWanConfig(p, plan, o.wanRttMs)], plan.fabricNs),
    // Customers' way in: Cloudflare's load balancer and the regions' load balancers, read from the stacks.
    startOperatorService(plan, path.join(p.logs, "edge.log"), [process.execPath, path.join(__dirname, "..", "..", "stand-ins", "edge-cli.js"), writeEdgeConfig(p, plan, synthDir)]),
    startOperatorService(plan, path.join(p.logs, "dnsmasq.log"), ["dnsmasq", "--keep-in-foreground", "--log-facility=-", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces", `--listen-address=${OPERATOR_ADDRESS}`, `--address=/${SPACES_DOMAIN}/${SPACES_ADDRESS}`, `--pid-file=${path.join(p.root, "dnsmasq.pid")}`]),
  ];
  writeState(p, state);
  await poll("the WAN forwarder to set up its routes", 20_000, () => fs.readFileSync(path.join(p.logs, "wan.log"), "utf8").includes("ready"));
  await poll("the edge stand-ins to listen", 20_000, () => fs.readFileSync(path.join(p.logs, "edge.log"), "utf8").includes("ready"));
  await poll("the mirror to answer", 20_000, () => inOperator(plan, ["curl", "-sf", "--cacert", tls.ca, `https://${OPERATOR_ADDRESS}/debian/Release`, "-o", "/dev/null"]).code === 0);
  await poll("the Spaces stand-in to answer", 20_000, () => inOperator(plan, ["curl", "-s", "--cacert", tls.ca, "--resolve", `probe.${t.regions[0].slug}.${SPACES_DOMAIN}:443:${SPACES_ADDRESS}`, `https://probe.${t.regions[0].slug}.${SPACES_DOMAIN}/`, "-o", "/dev/null"]).code === 0);
  for (const h of plan.hosts) {
    makeHostNetwork(plan, h);
    // As on DigitalOcean, the droplet's firewall is there before it boots (and stays across power cycles).
    if (rulesets) applyRuleset(h.netns, rulesets.get(h.host.name)!);
    const d = hostDirs(p.hosts, h.machine);
    prepareDisk(base, d, { userData: userData[h.host.name], metaData: `instance-id: ${h.host.name}-rehearsal\nlocal-hostname: ${h.host.name}\n`, networkConfig: networkConfig(plan, h) });
    const loopDevice = h.host.tier === "postgres" ? attachVolume(d, Math.min(t.database.volumeSizeGb, 8)) : undefined;
    state.hosts[h.machine] = { loopDevice, nspawnPid: boot(h, d, loopDevice ?? null) };
    writeState(p, state);
  }
  o.log(`booting ${plan.hosts.length} hosts`);
  await Promise.all(plan.hosts.map((h) => waitBooted(h.machine, o.log)));
  lap("boot", since);

  // 6. The operator learns the hosts' SSH keys (as one would with ssh-keyscan or on first connect).
  const scan = inOperator(plan, ["ssh-keyscan", "-T", "5", "-t", "ed25519", ...plan.hosts.map((h) => h.publicIpv4)]);
  fs.writeFileSync(p.knownHosts, scan.stdout);
  timings.total = Math.round((Date.now() - t0) / 100) / 10;
  writeState(p, state);
  o.log(`up: ${plan.hosts.length} hosts booted through cloud-init in ${timings.total} s${firewall ? ", behind the synthesized cloud firewalls" : ", WITHOUT cloud firewalls (--no-firewall)"}; deploy outputs in ${path.relative(process.cwd(), p.outputs)}`);
  return { plan, t };
}

/** Each droplet's user_data from its region stack, with the SSH key data source resolved to the operator's key. */
function userDataOf(synthDir: string, publicKey: string): Record<string, string> {
  const out: Record<string, string> = {};
  const stacks = path.join(synthDir, "stacks");
  for (const stack of fs.readdirSync(stacks)) {
    const json = JSON.parse(fs.readFileSync(path.join(stacks, stack, "cdk.tf.json"), "utf8"));
    for (const d of Object.values((json.resource?.digitalocean_droplet ?? {}) as Record<string, { name: string; user_data: string }>)) {
      out[d.name] = d.user_data.replace(/\$\{data\.digitalocean_ssh_key\.[^.}]+\.public_key\}/g, publicKey);
      if (out[d.name].includes("${")) throw new RehearsalError(`${stack}: the user_data of ${d.name} has a Terraform reference the rehearsal cannot resolve: ${/\$\{[^}]*\}/.exec(out[d.name])![0]}`);
    }
  }
  return out;
}

/** Starts a daemon of the operator's (the mirror, the name server, the Spaces stand-in) in its namespace
 * and the rehearsal's cgroup, so that `down` finds it. */
function startOperatorService(plan: Plan, logFile: string, argv: readonly string[], netns = plan.operatorNs): number {
  fs.mkdirSync(cgroupDir("systemd", "operator"), { recursive: true });
  const out = fs.openSync(logFile, "a");
  const child = spawn("/bin/sh", ["-c", `echo $$ > ${cgroupDir("systemd", "operator")}/cgroup.procs && exec nsenter --net=${netnsPath(netns)} "$@"`, "sh", ...argv], { detached: true, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  child.unref();
  return child.pid!;
}

/** The WAN forwarder's configuration: delay, the regions' bridges and VPCs, and the file of cut pairs. */
function writeWanConfig(p: RehearsalPaths, plan: Plan, rttMs: number): string {
  const file = path.join(p.root, "wan.json");
  fs.writeFileSync(file, JSON.stringify({ rttMs, cutFile: wanCutFile(p), rttFile: wanRttFile(p), regions: plan.regions.map((r) => ({ slug: r.slug, bridge: r.bridge, vpc: r.vpc.text })) }));
  fs.writeFileSync(wanCutFile(p), "");
  fs.writeFileSync(wanRttFile(p), `${rttMs}\n`);
  return file;
}

/** The round trip between regions in ms, re-read by the forwarder every 50 ms. */
function wanRttFile(p: RehearsalPaths): string {
  return path.join(p.root, "wan-rtt");
}

/** Changes the round trip between the regions of a running rehearsal (no reboot, no re-converge):
 * packets from then on are delayed by half of it each way. Returns the previous value. */
export function setWanRtt(p: RehearsalPaths, rttMs: number): number {
  const s = readState(p);
  if (!s) throw new RehearsalError("no rehearsal is up: run `npm run rehearse -- up` first");
  if (!fs.existsSync(wanRttFile(p))) throw new RehearsalError(`${wanRttFile(p)} is missing: this rehearsal was made by an older version; run down and up again`);
  fs.writeFileSync(`${wanRttFile(p)}.tmp`, `${rttMs}\n`);
  fs.renameSync(`${wanRttFile(p)}.tmp`, wanRttFile(p));
  writeState(p, { ...s, wanRttMs: rttMs });
  return s.wanRttMs;
}

/** Where the edge stand-ins listen and which droplet address each load balancer target has. */
function writeEdgeConfig(p: RehearsalPaths, plan: Plan, synthDir: string): string {
  const file = path.join(p.root, "edge.json");
  fs.writeFileSync(file, JSON.stringify({
    synthDir, cloudflare: { address: EDGE_ADDRESS, port: EDGE_PORT }, port: EDGE_PORT,
    loadBalancers: Object.fromEntries(plan.regions.map((r) => [r.slug, r.loadBalancerIp])),
    hosts: Object.fromEntries(plan.hosts.map((h) => [h.host.name, h.privateIpv4])),
  }, null, 2));
  return file;
}

/** Region pairs cut off from each other, one "A B" per line (the forwarder re-reads it every 50 ms). */
export function wanCutFile(p: RehearsalPaths): string {
  return path.join(p.root, "wan-cut");
}

/** A file shipped beside this module (the Python stand-ins), from the sources or from dist/. */
function besideThis(name: string): string {
  const here = path.join(__dirname, name);
  return fs.existsSync(here) ? here : path.resolve(__dirname, "../../../../lab/backends/rehearsal", name);
}

/** Runs a program in the operator's namespace (where Ansible and the drills run). */
export function inOperator(plan: Plan, argv: readonly string[], env?: NodeJS.ProcessEnv) {
  return run(["nsenter", `--net=${netnsPath(plan.operatorNs)}`, "--", ...argv], { env: env ?? process.env });
}

async function waitBooted(name: string, log: (l: string) => void): Promise<void> {
  await poll(`${name} to start systemd`, 120_000, () => initPid(name) !== null, 250);
  const state = await execOn(name, ["systemctl", "is-system-running", "--wait"], { timeoutMs: 300_000 });
  const ci = await execOn(name, ["cloud-init", "status", "--wait", "--long"], { timeoutMs: 300_000 });
  const failed = (await execOn(name, ["systemctl", "--failed", "--no-legend", "--plain"])).stdout.trim();
  log(`  ${name}: systemd ${state.stdout.trim()}${failed ? ` (failed: ${failed.split("\n").map((l) => l.split(/\s/)[0]).join(", ")})` : ""}; cloud-init ${/status: (\S+)/.exec(ci.stdout)?.[1] ?? ci.stdout.trim()}`);
  if (!/status: done/.test(ci.stdout)) throw new RehearsalError(`${name}: cloud-init did not finish cleanly:\n${ci.stdout}${ci.stderr}`);
}

/** Removes everything of the rehearsal, found by its names; safe to run any number of times. */
/** Mount points under `root`, as the kernel lists them. */
function mountsUnder(root: string): string[] {
  return fs.readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" ")[1]).filter((m) => m && m.startsWith(root + "/"));
}

/** Whatever of a rehearsal is still on this machine: its namespaces, mounts under its root, loop
 * devices backed by its files, its cgroups and the processes in them, its operator services. Empty
 * after a successful `down`, whatever state the rehearsal was left in. */
export function leftovers(p: RehearsalPaths): string[] {
  const mounts = mountsUnder(p.root);
  const loops = run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"]).stdout.split("\n").map((l) => l.trim().split(/\s+/)).filter(([, file]) => file?.startsWith(p.root + "/"));
  const operators = (readState(p)?.operatorPids ?? []).filter(alive);
  return [
    ...ourNamespaces().map((n) => `network namespace ${n}`),
    ...mounts.map((m) => `mount ${m}`),
    ...loops.map(([dev, file]) => `loop device ${dev} (${file})`),
    ...cgroupProcs().map((pid) => `process ${pid}`),
    ...operators.map((pid) => `operator service ${pid}`),
    ...ourCgroups().map((c) => `cgroup ${c}`),
  ];
}

export async function down(root: string, log: (l: string) => void, keepCache = true): Promise<void> {
  const p = rehearsalPaths(path.resolve(root));
  const state = readState(p);
  const names = new Set([...Object.keys(state?.hosts ?? {}), ...listDirs(p.hosts)]);
  await Promise.all([...names].map((n) => shutdown(n, state?.hosts[n]?.nspawnPid, 15_000)));
  for (const pid of cgroupProcs()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  for (const pid of state?.operatorPids ?? []) if (alive(pid)) process.kill(pid, "SIGKILL");
  await poll("the rehearsal's processes to exit", 15_000, () => cgroupProcs().length === 0 && !(state?.operatorPids ?? []).some(alive)).catch((e: Error) => log(`warning: ${e.message}`));
  // Mounts under the root, deepest first (host disks and anything nspawn left under them).
  const mounts = mountsUnder(p.root);
  for (const m of mounts.sort((a, b) => b.length - a.length)) run(["umount", "-l", m]);
  for (const n of names) {
    for (const dev of loopDevicesOf(hostDirs(p.hosts, n).volume)) run(["losetup", "-d", dev]);
    for (const dir of [`/run/systemd/nspawn/propagate/${n}`, `/run/systemd/nspawn/unix-export/${n}`]) fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const ns of ourNamespaces()) deleteNamespace(ns);
  removeCgroups();
  const left = leftovers(p);
  if (left.length === 0) fs.rmSync(p.hosts, { recursive: true, force: true });
  for (const f of [p.state, p.outputs, path.join(p.root, "mirror"), path.join(p.root, "spaces"), path.join(p.root, "synth"), path.join(p.root, "dnsmasq.pid"), path.join(p.root, "wan.json"), path.join(p.root, "edge.json"), wanCutFile(p), wanRttFile(p), p.ansible]) fs.rmSync(f, { recursive: true, force: true });
  if (!keepCache) fs.rmSync(p.cache, { recursive: true, force: true });
  if (left.length) throw new RehearsalError(`down could not remove: ${left.join("; ")}`);
  log(`down: removed ${names.size} hosts, their networks, mounts and cgroups${keepCache ? ` (kept the image and package cache in ${p.cache})` : ""}`);
}

function listDirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

