// The bare host image and the package mirror, built once per machine and cached:
// - a Debian 12 root file system with what a `debian-12-x64` droplet offers (systemd, OpenSSH, python3,
//   sudo, cloud-init …) and nothing of the shop; cloud-init reads the NoCloud seed each host gets;
// - a flat apt repository of every .deb the generated playbooks install on it, downloaded with this
//   machine's apt from the mirrors its apt configuration names, served to the hosts by the operator;
// - a private CA for the mirror's HTTPS, trusted by the image (as a corporate mirror's CA would be).
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { generateTree } from "../../../playbooks-gen/generate";
import { parseDeployOutputs, type Topology } from "../../../lib/model";
import { MIRROR_URL, OPERATOR_ADDRESS, SPACES_DOMAIN } from "./plan";
import { run, runOk } from "./sys";

/** What a DigitalOcean Debian 12 image has that a minimal root file system lacks (LAB-NOTES). */
export const IMAGE_PACKAGES = [
  "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "iproute2", "ca-certificates", "sudo",
  "e2fsprogs", "kmod", "cron", "udev", "cloud-init", "locales", "curl", "gnupg", "less", "procps", "netbase",
  "ifupdown", "net-tools", "apt-utils", "logrotate", "rsyslog",
];

/** The machine's apt sources (deb822 and one-line files): mmdebstrap and the download use them as they are. */
export function machineSources(): string[] {
  const files = ["/etc/apt/sources.list", ...listDir("/etc/apt/sources.list.d").filter((f) => /\.(list|sources)$/.test(f)).map((f) => path.join("/etc/apt/sources.list.d", f))];
  return files.filter((f) => fs.existsSync(f) && fs.readFileSync(f, "utf8").split("\n").some((l) => /^\s*(deb\s|Types:\s*deb)/.test(l)));
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

const hash = (...parts: string[]) => createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 12);

/** The root file system tarball (mmdebstrap, ~1 min), cached by its package list. */
export function ensureBaseTarball(cache: string, log: (l: string) => void): string {
  const key = hash(IMAGE_PACKAGES.join(","), "bookworm");
  const tarball = path.join(cache, `debian-12-${key}.tar.gz`);
  if (fs.existsSync(tarball)) return tarball;
  const sources = machineSources();
  if (sources.length === 0) throw new Error("no apt sources on this machine (/etc/apt/sources.list*): the rehearsal downloads Debian packages with the machine's own apt configuration");
  log(`building the bare Debian 12 image with mmdebstrap (about a minute) → ${tarball}`);
  const tmp = `${tarball}.partial.tar.gz`;
  runOk(["mmdebstrap", "--mode=root", "--variant=apt", `--include=${IMAGE_PACKAGES.join(",")}`, "--dpkgopt=force-unsafe-io", "bookworm", tmp, ...sources], { stdio: ["ignore", "ignore", "pipe"] });
  fs.renameSync(tmp, tarball);
  return tarball;
}

/** The rehearsal's private CA (trusted by the image, as a company's own CA would be) and the
 * certificates of the mirror (IP SAN = the operator's address) and of the Spaces stand-in (the
 * regions' virtual-host names). Made once; the Spaces one again when the regions change. */
export function ensureRehearsalTls(cache: string, regions: readonly string[]) {
  const dir = path.join(cache, "tls");
  const ca = path.join(dir, "ca.crt");
  const caKey = path.join(dir, "ca.key");
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(ca)) runOk(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650", "-subj", "/CN=shop-multiregion rehearsal CA", "-keyout", caKey, "-out", ca]);
  const issue = (name: string, cn: string, sans: readonly string[]) => {
    const cert = path.join(dir, `${name}.crt`);
    const key = path.join(dir, `${name}.key`);
    const ext = `subjectAltName=${sans.join(",")}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`;
    const extFile = path.join(dir, `${name}.ext`);
    if (fs.existsSync(cert) && fs.existsSync(extFile) && fs.readFileSync(extFile, "utf8") === ext) return { cert, key };
    fs.writeFileSync(extFile, ext);
    runOk(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", `/CN=${cn}`, "-keyout", key, "-out", `${cert}.csr`]);
    runOk(["openssl", "x509", "-req", "-in", `${cert}.csr`, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-days", "3650", "-extfile", extFile, "-out", cert]);
    return { cert, key };
  };
  return {
    ca,
    mirror: issue("mirror", OPERATOR_ADDRESS, [`IP:${OPERATOR_ADDRESS}`]),
    spaces: issue("spaces", SPACES_DOMAIN, [...regions].sort().flatMap((r) => [`DNS:${r}.${SPACES_DOMAIN}`, `DNS:*.${r}.${SPACES_DOMAIN}`])),
  };
}

/** Extracts the tarball into a read-only lower layer and makes it a "droplet image": the rehearsal's
 * mirror as its apt source, cloud-init reading NoCloud, no SSH host keys and no machine id (each host
 * makes its own on first boot, as a droplet does). */
export function ensureBaseDir(cache: string, tarball: string, caFile: string, log: (l: string) => void): string {
  const dir = tarball.replace(/\.tar\.gz$/, "");
  const done = path.join(cache, `${path.basename(dir)}.ready`);
  // Bump when the preparation below changes, so cached layers are made again.
  const caHash = hash(fs.readFileSync(caFile, "utf8"), "layer-4");
  if (fs.existsSync(done) && fs.readFileSync(done, "utf8") === caHash) return dir;
  log(`preparing the image layer ${dir}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  runOk(["tar", "-xzf", tarball, "-C", dir, "--numeric-owner"]);
  const at = (p: string) => path.join(dir, p);
  for (const f of listDir(at("etc/apt/sources.list.d"))) fs.rmSync(at(`etc/apt/sources.list.d/${f}`));
  fs.writeFileSync(at("etc/apt/sources.list"), `# The rehearsal's package mirror (filled from Debian's archive on the machine that runs it).\ndeb [trusted=yes] ${MIRROR_URL}/debian ./\n`);
  for (const f of listDir(at("var/lib/apt/lists"))) if (f !== "partial" && f !== "lock") fs.rmSync(at(`var/lib/apt/lists/${f}`), { force: true, recursive: true });
  fs.mkdirSync(at("usr/local/share/ca-certificates"), { recursive: true });
  fs.copyFileSync(caFile, at("usr/local/share/ca-certificates/shop-rehearsal-mirror.crt"));
  runOk(["chroot", dir, "update-ca-certificates"]);
  fs.writeFileSync(at("etc/cloud/cloud.cfg.d/90-rehearsal.cfg"), "# As on a droplet: user data from the seed, /etc/hosts managed by cloud-init.\ndatasource_list: [ NoCloud, None ]\nmanage_etc_hosts: true\n");
  for (const f of listDir(at("etc/ssh")).filter((f) => f.startsWith("ssh_host_"))) fs.rmSync(at(`etc/ssh/${f}`));
  fs.writeFileSync(at("etc/machine-id"), "");
  // As DigitalOcean's image: en_US.UTF-8 generated (cloud-init sets it as the system locale), no resolver.
  fs.writeFileSync(at("etc/locale.gen"), "en_US.UTF-8 UTF-8\n");
  runOk(["chroot", dir, "locale-gen"]);
  // The operator's resolver answers for the names the rehearsal stands in for (Spaces) and no others.
  fs.writeFileSync(at("etc/resolv.conf"), `nameserver ${OPERATOR_ADDRESS}\n`);
  fs.rmSync(at("var/lib/dbus/machine-id"), { force: true });
  fs.writeFileSync(at("etc/dpkg/dpkg.cfg.d/rehearsal-unsafe-io"), "# Parallel installs on one disk: skip fsync storms.\nforce-unsafe-io\n");
  // A physical limit of containers, not of the product: systemd's fstab generator skips block devices
  // in a container ("Running in a container, ignoring fstab device entry"), so after a reboot the data
  // volume would stay unmounted where a droplet mounts it from the fstab line Ansible wrote.
  fs.writeFileSync(at("etc/systemd/system/rehearsal-volumes.service"), [
    "[Unit]", "Description=Mount the ext4 volumes of /etc/fstab (systemd skips block devices in containers)",
    "DefaultDependencies=no", "After=systemd-remount-fs.service", "Before=local-fs.target", "",
    "[Service]", "Type=oneshot", "RemainAfterExit=yes", "ExecStart=/bin/mount -a -t ext4", "",
    "[Install]", "WantedBy=local-fs.target", "",
  ].join("\n"));
  fs.mkdirSync(at("etc/systemd/system/local-fs.target.wants"), { recursive: true });
  fs.symlinkSync("/etc/systemd/system/rehearsal-volumes.service", at("etc/systemd/system/local-fs.target.wants/rehearsal-volumes.service"));
  fs.writeFileSync(done, caHash);
  return dir;
}

/** Every Debian package the generated tree installs, with its Jinja variables resolved from the tree's
 * own defaults and group vars, plus what the droplets' user_data asks cloud-init for. */
export function packagesOf(t: Topology, outputs: Record<string, unknown>, userDataPackages: readonly string[]): string[] {
  const tree = generateTree(t, parseDeployOutputs(outputs, "rehearsal outputs"), "rehearsal outputs");
  const vars: Record<string, unknown> = {};
  const docs = (p: string) => yaml.loadAll(tree[p]) as unknown[];
  for (const p of Object.keys(tree).filter((p) => /roles\/[^/]+\/defaults\/main\.yml$/.test(p))) Object.assign(vars, docs(p)[0] ?? {});
  for (const p of Object.keys(tree).filter((p) => /inventory\/group_vars\/[^/]+\.yml$/.test(p))) Object.assign(vars, docs(p)[0] ?? {});
  const resolve = (v: unknown): string[] => {
    if (Array.isArray(v)) return v.flatMap(resolve);
    if (typeof v !== "string") return [];
    const whole = /^\{\{\s*(\w+)\s*\}\}$/.exec(v);
    if (whole) return resolve(vars[whole[1]]);
    return [v.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name) => String(vars[name]))];
  };
  const names = new Set<string>(userDataPackages);
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== "object") return;
    for (const [k, v] of Object.entries(node)) {
      if ((k === "ansible.builtin.apt" || k === "apt") && v && typeof v === "object" && "name" in v) resolve((v as { name: unknown }).name).forEach((n) => names.add(n));
      else visit(v);
    }
  };
  for (const p of Object.keys(tree).filter((p) => p.endsWith(".yml"))) for (const d of docs(p)) visit(d);
  const bad = [...names].filter((n) => !/^[a-z0-9][a-z0-9+.-]+$/.test(n));
  if (bad.length) throw new Error(`could not resolve the package names ${bad.join(", ")} in the generated tree`);
  return [...names].sort();
}

/** The flat apt repository: every .deb that installing `packages` on the bare image needs, resolved
 * in one go by apt inside a throw-away overlay of the image, with the machine's sources. */
export function ensureAptRepo(cache: string, baseDir: string, packages: readonly string[], log: (l: string) => void): string {
  const repo = path.join(cache, "apt", "debian");
  const stamp = path.join(cache, "apt", "packages.txt");
  const want = packages.join("\n");
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === want) return repo;
  log(`downloading ${packages.length} packages and their dependencies into the rehearsal's mirror ${repo}`);
  const work = fs.mkdtempSync(path.join(cache, "download-"));
  const [upper, wk, merged] = ["upper", "work", "merged"].map((d) => path.join(work, d));
  [upper, wk, merged].forEach((d) => fs.mkdirSync(d));
  runOk(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${baseDir},upperdir=${upper},workdir=${wk}`, merged]);
  try {
    const at = (p: string) => path.join(merged, p);
    fs.writeFileSync(at("etc/apt/sources.list"), "");
    for (const f of machineSources()) fs.copyFileSync(f, at(`etc/apt/sources.list.d/${path.basename(f)}${f.endsWith("sources.list") ? ".list" : ""}`));
    fs.copyFileSync("/etc/resolv.conf", at("etc/resolv.conf"));
    const archives = path.join(cache, "apt", "archives");
    fs.mkdirSync(path.join(archives, "partial"), { recursive: true });
    runOk(["chroot", merged, "apt-get", "-qq", "update"]);
    // The archives directory is bind-mounted so downloads survive between runs.
    runOk(["mount", "--bind", archives, at("var/cache/apt/archives")]);
    try {
      runOk(["chroot", merged, "apt-get", "-y", "-qq", "--download-only", "install", ...packages], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    } finally {
      run(["umount", at("var/cache/apt/archives")]);
    }
    fs.mkdirSync(repo, { recursive: true });
    for (const f of listDir(archives).filter((f) => f.endsWith(".deb"))) {
      const dest = path.join(repo, f);
      if (!fs.existsSync(dest)) fs.linkSync(path.join(archives, f), dest);
    }
    const index = runOk(["dpkg-scanpackages", "--multiversion", "."], { cwd: repo, stdio: ["ignore", "pipe", "ignore"] });
    fs.writeFileSync(path.join(repo, "Packages"), index);
    runOk(["gzip", "-kf9", "Packages"], { cwd: repo });
    fs.writeFileSync(path.join(repo, "Release"), runOk(["apt-ftparchive", "release", "."], { cwd: repo }));
  } finally {
    run(["umount", merged]);
    fs.rmSync(work, { recursive: true, force: true });
  }
  fs.writeFileSync(stamp, want);
  return repo;
}
