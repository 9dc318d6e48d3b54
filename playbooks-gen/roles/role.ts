// A role as data: documented inputs, tasks per phase, handlers. roleFiles() turns it into the files
// geerlingguy/prometheus-community roles have: tasks/main.yml as a table of contents with a tag per
// phase, defaults/main.yml with every input documented, meta/argument_specs.yml typing them.
import { dumpDocumented, dumpYaml } from "../engine/yaml";
import { MARKER } from "../engine/marker";

export type Task = Readonly<Record<string, unknown>>;

export interface RoleInput {
  readonly name: string;
  readonly description: string;
  readonly type: "str" | "int" | "bool" | "list" | "path";
  /** Default in defaults/main.yml; group_vars override it with the topology's value. */
  readonly default: unknown;
}

export interface Role {
  readonly name: string;
  readonly description: string;
  readonly inputs: readonly RoleInput[];
  readonly install: readonly Task[];
  readonly configure: readonly Task[];
  readonly service: readonly Task[];
  readonly handlers: readonly Task[];
}

const PHASES = [["install", "Install packages"], ["configure", "Configure"], ["service", "Start and check services"]] as const;

export function roleFiles(role: Role): Record<string, string> {
  // Beside the playbooks that use them, so Ansible finds them from any working directory.
  const dir = `playbooks/roles/${role.name}`;
  const phases = PHASES.filter(([phase]) => role[phase].length > 0);
  const files: Record<string, string> = {
    [`${dir}/tasks/main.yml`]: dumpYaml(phases.map(([phase, title]) => ({
      name: title, "ansible.builtin.import_tasks": `${phase}.yml`, tags: [phase, `${role.name}_${phase}`],
    }))),
    [`${dir}/defaults/main.yml`]: dumpDocumented(`Inputs of the ${role.name} role; inventory/group_vars set them from the topology.`,
      role.inputs.map((i) => ({ name: i.name, description: i.description, value: i.default }))),
    [`${dir}/meta/main.yml`]: dumpYaml({
      galaxy_info: {
        author: "shop-multiregion", description: role.description, license: "MIT", min_ansible_version: "2.14",
        platforms: [{ name: "Debian", versions: ["bookworm"] }], company: "shop-multiregion",
      },
      dependencies: [],
    }),
    [`${dir}/meta/argument_specs.yml`]: dumpYaml({
      argument_specs: {
        main: {
          short_description: role.description,
          options: Object.fromEntries(role.inputs.map((i) => [i.name, {
            type: i.type, description: i.description, ...(i.type === "list" ? { elements: "str" } : {}),
          }])),
        },
      },
    }),
    [`${dir}/README.md`]: roleReadme(role),
  };
  for (const [phase] of phases) files[`${dir}/tasks/${phase}.yml`] = dumpYaml(role[phase]);
  if (role.handlers.length) files[`${dir}/handlers/main.yml`] = dumpYaml(role.handlers);
  return files;
}

function roleReadme(role: Role): string {
  const rows = role.inputs.map((i) => `| \`${i.name}\` | ${i.type} | ${i.description.replace(/\n/g, " ")} |`);
  return [`<!-- ${MARKER} -->`, `# Role \`${role.name}\``, "", role.description, "",
    "Tags: `install`, `configure`, `service` (and `<role>_<phase>`).", "",
    "| Input | Type | Description |", "|---|---|---|", ...rows, ""].join("\n");
}

// Task builders: the few shapes every role repeats.

/** Files rendered at generation time for this host live in files/<host>/ of the tree. */
export const HOST_FILES = "{{ shop_files_dir }}/{{ inventory_hostname }}";
export const SHARED_FILES = "{{ shop_files_dir }}";

export function apt(name: string, packages: readonly string[]): Task {
  return { name, "ansible.builtin.apt": { name: [...packages], state: "present", update_cache: true, cache_valid_time: 3600 } };
}

interface FileOptions {
  readonly owner?: string;
  readonly group?: string;
  readonly mode: string;
  readonly validate?: string;
  readonly force?: boolean;
  readonly notify?: string;
  readonly when?: string;
}

export function copyFile(name: string, src: string, dest: string, o: FileOptions): Task {
  return {
    name,
    "ansible.builtin.copy": {
      src, dest, owner: o.owner ?? "root", group: o.group ?? "root", mode: o.mode,
      ...(o.validate ? { validate: o.validate } : {}), ...(o.force === false ? { force: false } : {}),
    },
    ...(o.notify ? { notify: o.notify } : {}),
    ...(o.when ? { when: o.when } : {}),
  };
}

/** A root-only file whose content Ansible builds from Vault variables at run time; never logged. */
export function secretFile(name: string, dest: string, lines: readonly string[], o: FileOptions): Task {
  return {
    name,
    "ansible.builtin.copy": { content: `${lines.join("\n")}\n`, dest, owner: o.owner ?? "root", group: o.group ?? "root", mode: o.mode },
    no_log: true,
    ...(o.notify ? { notify: o.notify } : {}),
    ...(o.when ? { when: o.when } : {}),
  };
}

export function directory(name: string, path: string, owner: string, mode: string): Task {
  return { name, "ansible.builtin.file": { path, state: "directory", owner, group: owner, mode } };
}

export function started(name: string, unit: string, extra: Record<string, unknown> = {}): Task {
  return { name, "ansible.builtin.systemd": { name: unit, state: "started", enabled: true, daemon_reload: true, ...extra } };
}

export function handler(name: string, unit: string, state: "restarted" | "reloaded"): Task {
  return { name, "ansible.builtin.systemd": { name: unit, state, daemon_reload: true } };
}
