// The Ansible collections the generated tree uses beyond ansible.builtin. Plain ansible-core lacks
// them; Debian's `ansible` 7.7 package ships these versions, which the tree is checked against
// (ansible-lint, --syntax-check), so requirements.yml asks for them and stays below the next major.
export const COLLECTIONS: ReadonlyArray<{ readonly name: string; readonly tested: string; readonly below: string }> = [
  { name: "ansible.posix", tested: "1.5.4", below: "2.0.0" },
  { name: "community.crypto", tested: "2.14.0", below: "3.0.0" },
  { name: "community.general", tested: "6.6.2", below: "7.0.0" },
  { name: "community.postgresql", tested: "2.4.2", below: "3.0.0" },
];

/** requirements.yml for `ansible-galaxy collection install -r requirements.yml`. */
export function requirementsView() {
  return { collections: COLLECTIONS.map((c) => ({ name: c.name, version: `>=${c.tested},<${c.below}` })) };
}
