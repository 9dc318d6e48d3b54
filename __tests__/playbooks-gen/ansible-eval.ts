// Evaluates a condition of the generated playbooks (a `when:` or `until:`) with the real Ansible and
// Jinja of Debian's ansible package, against variables a test supplies (registered results included).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export function ansibleCondition(condition: string, vars: Record<string, unknown>): boolean {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ansible-eval-"));
  try {
    fs.writeFileSync(path.join(dir, "vars.json"), JSON.stringify(vars));
    const r = spawnSync("ansible", ["localhost", "-c", "local", "-i", "localhost,", "-m", "ansible.builtin.debug",
      "-a", `msg={{ (${condition}) | ternary('CONDITION=true', 'CONDITION=false') }}`, "-e", "@vars.json"],
    { cwd: dir, encoding: "utf8", timeout: 60_000, env: { ...process.env, ANSIBLE_NOCOLOR: "1", ANSIBLE_LOCALHOST_WARNING: "0" } });
    const verdict = /CONDITION=(true|false)/.exec(r.stdout);
    if (!verdict) throw new Error(`ansible could not evaluate ${condition}:\n${r.stdout}${r.stderr}`);
    return verdict[1] === "true";
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
