// `converge`: the README's deploy, verbatim, from the operator's machine on the public side —
// `npm run generate` from the deploy outputs, a Vault file encrypted with `ansible-vault`, then
// `ansible-playbook -i … site.yml -e @vault.yml --vault-password-file …` as the deploy user over SSH,
// twice. Ansible's output streams through; the report keeps each run's PLAY RECAP, wall time and the
// failed tasks with their messages.
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { readVault } from "./vault";
import { RehearsalError } from "./errors";
import { netnsPath } from "./net";
import type { RehearsalPaths } from "./plan";
import { readState } from "./rehearsal";
import { loadTopology } from "../../../lib/model";
import { planOf } from "./plan";
import { runAsync, runOk } from "./sys";
import { mergeReport } from "./report";
import type { CliOptions } from "./cli";

export interface HostRecap { ok: number; changed: number; unreachable: number; failed: number; skipped: number; rescued: number; ignored: number }
export interface Failure { host: string; task: string; message: string }
export interface ConvergeRun { wallSeconds: number; exitCode: number; hosts: Record<string, HostRecap>; failures: Failure[] }

/** PLAY RECAP lines → per-host counts. */
export function parseRecap(output: string): Record<string, HostRecap> {
  const recap: Record<string, HostRecap> = {};
  const at = output.lastIndexOf("PLAY RECAP");
  if (at < 0) return recap;
  for (const line of output.slice(at).split("\n")) {
    const m = /^(\S+)\s+:\s+(.*)$/.exec(line.replace(/\x1b\[[0-9;]*m/g, "").trim());
    if (!m) continue;
    const counts = Object.fromEntries([...m[2].matchAll(/(\w+)=(\d+)/g)].map((x) => [x[1], Number(x[2])]));
    recap[m[1]] = { ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0, rescued: 0, ignored: 0, ...counts };
  }
  return recap;
}

/** `fatal:`/`failed:` lines with the task they belong to and Ansible's message. */
export function parseFailures(output: string): Failure[] {
  const failures: Failure[] = [];
  let task = "";
  for (const raw of output.split("\n")) {
    const line = raw.replace(/\x1b\[[0-9;]*m/g, "");
    const t = /^(?:TASK|RUNNING HANDLER) \[(.*)\]/.exec(line);
    if (t) task = t[1];
    const f = /^(?:fatal|failed): \[([^\]]+)\].*?(?:FAILED!|UNREACHABLE!) => (.*)$/.exec(line);
    if (!f) continue;
    let message = f[2];
    try {
      const j = JSON.parse(f[2]);
      message = [j.msg, j.stderr, j.module_stderr].filter((x) => typeof x === "string" && x.trim()).join(" | ") || f[2];
    } catch { /* not JSON: keep the text */ }
    failures.push({ host: f[1].split(" ")[0], task, message: message.slice(0, 2000) });
  }
  return failures;
}

/** The secrets the tree asks for (vault.example.yml), each a fresh random value. */
export function randomVault(exampleFile: string): Record<string, string> {
  const example = yaml.load(fs.readFileSync(exampleFile, "utf8")) as Record<string, unknown>;
  if (!example || typeof example !== "object") throw new RehearsalError(`${exampleFile} lists no vault variables`);
  return Object.fromEntries(Object.keys(example).sort().map((k) => [k, randomBytes(18).toString("base64url")]));
}

export async function run(o: CliOptions, p: RehearsalPaths, log: (l: string) => void): Promise<number> {
  const state = readState(p);
  if (!state) throw new RehearsalError("no rehearsal is up: run `npm run rehearse -- up` first");
  const plan = planOf(loadTopology(p.topology));
  const project = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? "../../../.." : "../../..");
  const rel = (f: string) => path.relative(project, f);

  // 1. The tree, from the deploy outputs (README: "Ansible generator").
  log(`$ npm run generate -- --topology ${rel(p.topology)} --outputs ${rel(p.outputs)} --out ${rel(p.ansible)}`);
  const gen = await runAsync(["npm", "run", "--silent", "generate", "--", "--topology", p.topology, "--outputs", p.outputs, "--out", p.ansible], { cwd: project, onOutput: (s) => process.stdout.write(s) });
  if (gen.code !== 0) throw new RehearsalError(`npm run generate failed (exit ${gen.code})`);

  // 2. The Vault file, outside the generated tree (README: "Running it against a real deployment").
  if (!fs.existsSync(p.vault)) {
    fs.writeFileSync(p.vaultPassword, randomBytes(24).toString("base64url") + "\n", { mode: 0o600 });
    fs.writeFileSync(p.vault, yaml.dump(randomVault(path.join(p.ansible, "vault.example.yml"))), { mode: 0o600 });
    log(`$ ansible-vault encrypt ${rel(p.vault)} --vault-password-file ${rel(p.vaultPassword)}`);
    runOk(["ansible-vault", "encrypt", p.vault, "--vault-password-file", p.vaultPassword]);
  } else {
    // A Vault made for an older tree: add what this tree's vault.example.yml names and it lacks, as a
    // user does after an upgrade (`ansible-vault edit`); existing secrets stay as they are.
    const have = readVault(p);
    const missing = Object.entries(randomVault(path.join(p.ansible, "vault.example.yml"))).filter(([k]) => !(k in have));
    if (missing.length) {
      log(`$ ansible-vault edit ${rel(p.vault)}   # adds ${missing.map(([k]) => k).join(", ")} (new in vault.example.yml)`);
      fs.writeFileSync(p.vault, yaml.dump({ ...have, ...Object.fromEntries(missing) }), { mode: 0o600 });
      runOk(["ansible-vault", "encrypt", p.vault, "--vault-password-file", p.vaultPassword]);
    }
  }

  // 3. The playbooks, twice, from the operator's machine (its namespace), as the deploy user over SSH.
  const argv = ["ansible-playbook", "-i", path.join(p.ansible, "inventory/hosts.yml"), path.join(p.ansible, "site.yml"), "-e", `@${p.vault}`, "--vault-password-file", p.vaultPassword];
  const env = {
    ...process.env, HOME: p.operator, ANSIBLE_FORCE_COLOR: "0", ANSIBLE_FORKS: String(Math.min(plan.hosts.length, 20)),
    ANSIBLE_PRIVATE_KEY_FILE: p.sshKey, ANSIBLE_SSH_COMMON_ARGS: `-o UserKnownHostsFile=${p.knownHosts} -o StrictHostKeyChecking=yes`,
  };
  const runs: ConvergeRun[] = [];
  for (const n of [1, 2]) {
    log(`\n== converge run ${n} of 2\n$ ${argv.map((a) => a.startsWith("/") ? rel(a) : a.startsWith("@/") ? `@${rel(a.slice(1))}` : a).join(" ")}`);
    const t0 = Date.now();
    const r = await runAsync(["nsenter", `--net=${netnsPath(plan.operatorNs)}`, "--", ...argv], { env, cwd: project, onOutput: (s) => process.stdout.write(s), timeoutMs: 45 * 60_000 });
    fs.writeFileSync(path.join(p.logs, `converge-${n}.log`), r.stdout + r.stderr);
    runs.push({ wallSeconds: Math.round((Date.now() - t0) / 100) / 10, exitCode: r.code, hosts: parseRecap(r.stdout), failures: parseFailures(r.stdout) });
    if (r.code !== 0) break;
  }
  const verdict = judgeConverge(runs, plan.hosts.map((h) => h.host.name));
  mergeReport(o.report ?? path.join(p.root, "report.json"), { converge: { runs, ...verdict } });
  for (const r of runs) log(`converge: ${r.wallSeconds} s, exit ${r.exitCode}, changed ${Object.values(r.hosts).reduce((a, h) => a + h.changed, 0)} across ${Object.keys(r.hosts).length} hosts`);
  for (const f of runs.flatMap((r) => r.failures)) log(`  FAILED ${f.host}: ${f.task}: ${f.message}`);
  for (const v of verdict.violations) log(`  ${v}`);
  log(verdict.violations.length ? "converge: FAIL" : "converge: PASS (every host failed=0 unreachable=0; second run changed=0)");
  return verdict.violations.length ? 3 : 0;
}

/** Both runs complete on every host with failed=0 unreachable=0, and the second changes nothing. */
export function judgeConverge(runs: readonly ConvergeRun[], hosts: readonly string[]): { passed: boolean; idempotent: boolean; violations: string[] } {
  const violations: string[] = [];
  runs.forEach((r, i) => {
    for (const h of hosts) {
      const c = r.hosts[h];
      if (!c) violations.push(`run ${i + 1}: ${h} missing from the PLAY RECAP`);
      else if (c.failed || c.unreachable) violations.push(`run ${i + 1}: ${h} failed=${c.failed} unreachable=${c.unreachable}`);
    }
  });
  if (runs.length < 2) violations.push("the second run did not happen (the first failed)");
  const second = runs[1];
  const changed = second ? Object.entries(second.hosts).filter(([, c]) => c.changed > 0) : [];
  for (const [h, c] of changed) violations.push(`run 2 (idempotence): ${h} changed=${c.changed}`);
  return { passed: violations.length === 0, idempotent: !!second && changed.length === 0, violations };
}
