// Evaluates conditions of the generated playbooks (a `when:` or `until:`) with the real Ansible and
// Jinja of Debian's ansible package, against variables a test supplies (registered results included).
// One ansible-playbook run per call: Ansible starts slowly on a busy machine.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface ConditionCase {
  readonly condition: string;
  readonly vars: Record<string, unknown>;
}

export function ansibleConditions(cases: readonly ConditionCase[]): boolean[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ansible-eval-"));
  try {
    // JSON is YAML: one debug task per case, its variables as task vars.
    const play = [{
      hosts: "localhost", gather_facts: false,
      tasks: cases.map((c, i) => ({
        name: `case ${i}`, vars: c.vars,
        "ansible.builtin.debug": { msg: `CASE${i}={{ (${c.condition}) | ternary('true', 'false') }}` },
      })),
    }];
    fs.writeFileSync(path.join(dir, "play.yml"), JSON.stringify(play));
    const r = spawnSync("ansible-playbook", ["-c", "local", "-i", "localhost,", "play.yml"],
      { cwd: dir, encoding: "utf8", timeout: 120_000, env: { ...process.env, ANSIBLE_NOCOLOR: "1", ANSIBLE_LOCALHOST_WARNING: "0" } });
    return cases.map((c, i) => {
      const verdict = new RegExp(`CASE${i}=(true|false)`).exec(r.stdout);
      if (!verdict) throw new Error(`ansible could not evaluate ${c.condition}:\n${r.stdout}${r.stderr}`);
      return verdict[1] === "true";
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
