// One rehearsal host: an overlay of the image (its own disk, kept across power cycles), a NoCloud seed
// with its droplet's user_data, a data volume where the droplet has one, and `systemd-nspawn --boot`
// in the host's network namespace, placed in the rehearsal's own cgroups so that everything it runs can
// be frozen, killed and found again by name.
import * as fs from "fs";
import * as path from "path";
import { spawn } from "child_process";
import { volumeName } from "../../../lib/model";
import { PREFIX, type HostPlan } from "./plan";
import { netnsPath } from "./net";
import { alive, run, runAsync, runOk, type Ran } from "./sys";

/** cgroup v1 hierarchies (and the unified one) a host's processes are put in. */
const HIERARCHIES = ["systemd", "unified", "freezer"];
const CGROUP_ROOT = "/sys/fs/cgroup";

export function cgroupDir(hierarchy: string, name?: string): string {
  return path.join(CGROUP_ROOT, hierarchy, PREFIX, ...(name ? [name] : []));
}

export interface HostDirs {
  readonly dir: string;
  readonly upper: string;
  readonly work: string;
  readonly root: string;
  readonly volume: string;
  readonly console: string;
}

export function hostDirs(hostsDir: string, name: string): HostDirs {
  const dir = path.join(hostsDir, name);
  return { dir, upper: path.join(dir, "upper"), work: path.join(dir, "work"), root: path.join(dir, "root"), volume: path.join(dir, "volume.img"), console: path.join(dir, "console.log") };
}

export function isMounted(dir: string): boolean {
  return fs.readFileSync("/proc/self/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === dir);
}

/** The host's disk: the image below, its own writes above. Writes the NoCloud seed on first creation. */
export function prepareDisk(base: string, d: HostDirs, seed: { userData: string; metaData: string; networkConfig: string } | null): void {
  for (const x of [d.upper, d.work, d.root]) fs.mkdirSync(x, { recursive: true });
  if (!isMounted(d.root)) runOk(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${base},upperdir=${d.upper},workdir=${d.work}`, d.root]);
  if (seed) {
    const dir = path.join(d.root, "var/lib/cloud/seed/nocloud");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "user-data"), seed.userData);
    fs.writeFileSync(path.join(dir, "meta-data"), seed.metaData);
    fs.writeFileSync(path.join(dir, "network-config"), seed.networkConfig);
  }
}

/** A DigitalOcean volume made with `initial_filesystem_type = ext4` and label pgdata: a sparse ext4
 * image on a loop device. Returns the loop device. */
export function attachVolume(d: HostDirs, sizeGb: number): string {
  if (!fs.existsSync(d.volume)) {
    runOk(["truncate", "-s", `${sizeGb}G`, d.volume]);
    runOk(["mkfs.ext4", "-q", "-L", "pgdata", d.volume]);
  }
  const existing = loopDevicesOf(d.volume);
  return existing[0] ?? runOk(["losetup", "--find", "--show", d.volume]).trim();
}

export function loopDevicesOf(file: string): string[] {
  return run(["losetup", "-j", file]).stdout.split("\n").filter(Boolean).map((l) => l.split(":")[0]);
}

/** Boots the host (power on): returns the PID of systemd-nspawn, which runs until the host powers off. */
export function boot(h: HostPlan, d: HostDirs, loopDevice: string | null): number {
  for (const hier of HIERARCHIES) fs.mkdirSync(cgroupDir(hier, h.machine), { recursive: true });
  // A power cycle resets the NICs: the host configures them again from its network metadata.
  runOk(["ip", "-n", h.netns, "-batch", "-"], { input: ["eth0", "eth1"].flatMap((dev) => [`address flush dev ${dev}`, `link set ${dev} down`]).join("\n") + "\n" });
  const binds = loopDevice ? [`--bind=${loopDevice}:/dev/disk/by-id/scsi-0DO_Volume_${volumeName(h.host.name)}`] : [];
  const nspawn = [
    "systemd-nspawn", "-D", d.root, "-M", h.machine, "--boot", "--register=no", "--keep-unit",
    "--timezone=off", "--resolv-conf=off", "--link-journal=no", "--console=pipe", ...binds,
    // The namespace is the host's own: it configures its NICs itself (ifupdown, from cloud-init's network config).
    "--capability=CAP_NET_ADMIN",
  ];
  // The launching shell moves itself into the host's cgroups first: nspawn splits the caller's cgroup.
  const join = HIERARCHIES.map((hier) => `echo $$ > ${path.join(cgroupDir(hier, h.machine), "cgroup.procs")}`).join(" && ");
  const out = fs.openSync(d.console, "a");
  const child = spawn("/bin/sh", ["-c", `${join} && exec nsenter --net=${netnsPath(h.netns)} "$@"`, "sh", ...nspawn], { detached: true, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  child.unref();
  return child.pid!;
}

/** A cgroup directory and every one below it, parents first (none when it does not exist). */
function cgroupTree(top: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(top, { withFileTypes: true });
  } catch {
    return [];
  }
  return [top, ...entries.filter((e) => e.isDirectory()).flatMap((e) => cgroupTree(path.join(top, e.name)))];
}

/** Every process in a host's cgroup (and its sub-cgroups), or in all of the rehearsal's. */
export function cgroupProcs(name?: string): number[] {
  const pids = cgroupTree(cgroupDir("systemd", name)).flatMap((dir) => {
    try {
      return fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
    } catch {
      return []; // gone meanwhile
    }
  });
  return [...new Set(pids)];
}

/** The host's PID 1 (systemd inside the container), seen from here. */
export function initPid(name: string): number | null {
  for (const pid of cgroupProcs(name)) {
    try {
      const ns = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1].split(/\s+/);
      if (ns && ns.length > 1 && ns[ns.length - 1] === "1") return pid;
    } catch { /* exited */ }
  }
  return null;
}

const EXEC_ENV = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8", "TERM=dumb"];

/** Runs a command as root inside a running host (all of its namespaces and its root directory). */
export async function execOn(name: string, argv: readonly string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<Ran> {
  const pid = initPid(name);
  if (pid === null) return { code: 255, stdout: "", stderr: `${name} is not running (powered off or not booted)` };
  return runAsync(["nsenter", "-t", String(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--", ...EXEC_ENV, ...argv], { timeoutMs: opts.timeoutMs ?? 120_000, input: opts.input });
}

/** Power cut: every process of the host dies at once (systemd-nspawn and the container with it). */
export function powerCut(name: string): void {
  thaw(name);
  for (let round = 0; round < 5; round++) {
    const pids = cgroupProcs(name);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    run(["sleep", "0.2"]);
  }
}

/** Clean power-off (systemd shuts the container down), bounded; then a power cut for what is left. */
export async function shutdown(name: string, nspawnPid: number | undefined, timeoutMs = 20_000): Promise<void> {
  thaw(name);
  if (nspawnPid && alive(nspawnPid)) {
    try {
      process.kill(nspawnPid, "SIGTERM");
    } catch { /* gone */ }
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && alive(nspawnPid)) await new Promise((r) => setTimeout(r, 200));
  }
  powerCut(name);
}

export function freeze(name: string): void {
  fs.writeFileSync(path.join(cgroupDir("freezer", name), "freezer.state"), "FROZEN");
}

export function thaw(name: string): void {
  try {
    fs.writeFileSync(path.join(cgroupDir("freezer", name), "freezer.state"), "THAWED");
  } catch { /* no such cgroup */ }
}

/** Removes a host's cgroups (they must be empty) in every hierarchy, deepest first. */
/** The rehearsal's cgroup directories still present, in every hierarchy it uses. */
export function ourCgroups(): string[] {
  return HIERARCHIES.flatMap((hier) => cgroupTree(cgroupDir(hier)));
}

export function removeCgroups(name?: string): void {
  for (const hier of HIERARCHIES) {
    for (const dir of cgroupTree(cgroupDir(hier, name)).reverse()) {
      try {
        fs.rmdirSync(dir);
      } catch { /* busy or gone */ }
    }
  }
}
