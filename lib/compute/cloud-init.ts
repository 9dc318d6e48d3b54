// First-boot user data: an unprivileged `deploy` user reachable with the project's SSH keys, python3
// for Ansible, root login over SSH disabled. No secrets: user data is visible in the DO API.
import * as yaml from "js-yaml";
import { DEPLOY_USER } from "../model";

/** `publicKeys` may be Terraform tokens (`${data.digitalocean_ssh_key.x.public_key}`). */
export function cloudInit(hostname: string, publicKeys: readonly string[]): string {
  const config = {
    hostname,
    preserve_hostname: false,
    disable_root: true,
    ssh_pwauth: false,
    users: [
      {
        name: DEPLOY_USER,
        gecos: "shop-multiregion deploy user (Ansible)",
        shell: "/bin/bash",
        groups: ["sudo"],
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        lock_passwd: true,
        ssh_authorized_keys: [...publicKeys],
      },
    ],
    package_update: true,
    packages: ["python3", "python3-apt", "sudo"],
  };
  return `#cloud-config\n${yaml.dump(config, { sortKeys: true, noRefs: true, lineWidth: -1 })}`;
}
