// Test suites that need real programs from Debian call requireDebianPackages() in beforeAll: as root
// it installs what is missing; otherwise it fails with the exact command to run. Never skips.
import { execFileSync, spawnSync } from "child_process";

/** Debian package → a program it provides, used to tell whether it is installed. */
export const DEBIAN_PROGRAMS: Readonly<Record<string, string>> = {
  "postgresql-15": "/usr/lib/postgresql/15/bin/postgres",
  patroni: "/usr/bin/patroni",
  "etcd-server": "/usr/bin/etcd",
  "etcd-client": "/usr/bin/etcdctl",
  haproxy: "/usr/sbin/haproxy",
  "redis-server": "/usr/bin/redis-server",
  "redis-sentinel": "/usr/bin/redis-sentinel",
  "prometheus-redis-exporter": "/usr/bin/prometheus-redis-exporter",
  ansible: "/usr/bin/ansible-playbook",
  "ansible-lint": "/usr/bin/ansible-lint",
  yamllint: "/usr/bin/yamllint",
  prometheus: "/usr/bin/promtool",
  "prometheus-alertmanager": "/usr/bin/amtool",
  pgbackrest: "/usr/bin/pgbackrest",
  "python3-psycopg2": "/usr/lib/python3/dist-packages/psycopg2/__init__.py",
  iproute2: "/usr/sbin/ip",
};

function installed(pkg: string): boolean {
  const program = DEBIAN_PROGRAMS[pkg];
  if (program) return spawnSync("test", ["-e", program]).status === 0;
  return spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" }).stdout.includes("install ok installed");
}

export function requireDebianPackages(packages: readonly string[]): void {
  const missing = packages.filter((p) => !installed(p));
  if (missing.length === 0) return;
  const command = `apt-get update && apt-get install -y ${missing.join(" ")}`;
  if (process.getuid?.() !== 0) {
    throw new Error(`These tests need Debian packages that are not installed: ${missing.join(", ")}.\nRun as root: ${command}`);
  }
  execFileSync("sh", ["-c", `DEBIAN_FRONTEND=noninteractive ${command}`], { stdio: "inherit", timeout: 600_000 });
}
