// The shop itself (web units on app hosts, worker units on worker hosts): a pinned checkout, a build,
// an environment file from Vault, systemd units, and a health check.
import { redisUser } from "../views/redis-acl";
import { PRODUCTION_TLS } from "../render-env";
import { directory, handler, secretFile, SHARED_FILES, type Role } from "./role";

export const APP_ENV_FILE = "/etc/shop/app.env";
export const APP_DIR = "/opt/shop/app";
export const APP_USER = "shop";

const asApp = { become: true, become_user: "{{ app_user }}" };

export const appRole: Role = {
  name: "app",
  description: "The shop app: pinned git checkout, build, Vault-fed environment, systemd units, health check.",
  inputs: [
    { name: "app_repository", type: "str", default: "", description: "Git repository of the app." },
    { name: "app_version", type: "str", default: "", description: "Pinned tag or commit to deploy." },
    { name: "app_dir", type: "path", default: APP_DIR, description: "Checkout directory." },
    { name: "app_user", type: "str", default: APP_USER, description: "System user the app runs as." },
    { name: "app_packages", type: "list", default: ["git", "nodejs", "npm"], description: "Debian packages the app needs (npm only when its commands use it)." },
    { name: "app_build_command", type: "str", default: "npm ci && npm run build", description: "Build command run in the checkout after it changes." },
    { name: "app_env_file", type: "path", default: APP_ENV_FILE, description: "Root-only environment file the units read." },
    { name: "app_port", type: "int", default: 8080, description: "Port the web unit listens on." },
    { name: "app_health_path", type: "str", default: "/healthz", description: "Health path the load balancers and Prometheus probe." },
    { name: "app_database_name", type: "str", default: "shop", description: "Database name." },
    { name: "app_database_user", type: "str", default: "shop", description: "Database user." },
    { name: "app_database_primary_port", type: "int", default: 5000, description: "Local HAProxy port routing to the Patroni primary." },
    { name: "app_database_replicas_port", type: "int", default: 5001, description: "Local HAProxy port routing to replicas." },
    // HAProxy passes TLS through (mode tcp), so the app verifies the database node's certificate against
    // the deployment CA (verify-ca: which node answers on 127.0.0.1 is HAProxy's choice).
    { name: "app_database_tls", type: "str", default: `sslmode=verify-ca&sslrootcert=${PRODUCTION_TLS.caFile}`, description: "TLS parameters of the database URLs: verify the server's certificate against the deployment CA." },
    { name: "app_redis_sentinels", type: "str", default: "", description: "Comma-separated Sentinel addresses host:port." },
    { name: "app_redis_master_name", type: "str", default: "", description: "Name to ask Sentinel for the Redis primary by." },
    { name: "app_systemd_units", type: "list", default: [], description: "Units this host runs: shop-app (web) or shop-worker." },
  ],
  install: [
    { name: "Install git and Node.js", "ansible.builtin.apt": { name: "{{ app_packages }}", state: "present", update_cache: true, cache_valid_time: 3600 } },
    { name: "Create the app user", "ansible.builtin.user": { name: "{{ app_user }}", system: true, shell: "/usr/sbin/nologin", home: "/opt/shop", create_home: true } },
  ],
  configure: [
    directory("Create the checkout directory", "{{ app_dir }}", "{{ app_user }}", "0755"),
    {
      name: "Check out the pinned version",
      "ansible.builtin.git": { repo: "{{ app_repository }}", version: "{{ app_version }}", dest: "{{ app_dir }}", force: true },
      ...asApp, notify: ["Build app", "Restart app units"],
    },
    directory("Create the environment directory", "/etc/shop", "root", "0755"),
    secretFile("Write the environment from Vault", "{{ app_env_file }}", [
      "DATABASE_URL=postgresql://{{ app_database_user }}:{{ vault_app_database_password | urlencode }}@127.0.0.1:{{ app_database_primary_port }}/{{ app_database_name }}?{{ app_database_tls }}",
      "DATABASE_REPLICA_URL=postgresql://{{ app_database_user }}:{{ vault_app_database_password | urlencode }}@127.0.0.1:{{ app_database_replicas_port }}/{{ app_database_name }}?{{ app_database_tls }}",
      "REDIS_SENTINELS={{ app_redis_sentinels }}",
      "REDIS_SENTINEL_MASTER={{ app_redis_master_name }}",
      // The app's own Redis user, on the Redis servers and on the Sentinels (SENTINEL SET/FAILOVER refused).
      `REDIS_USERNAME=${redisUser("app").name}`,
      `REDIS_PASSWORD={{ ${redisUser("app").vault} }}`,
      `REDIS_SENTINEL_USERNAME=${redisUser("app").name}`,
      `REDIS_SENTINEL_PASSWORD={{ ${redisUser("app").vault} }}`,
      // Redis and the Sentinels speak TLS only, with certificates from the deployment CA.
      `REDIS_TLS_CA_FILE=${PRODUCTION_TLS.caFile}`,
      "SESSION_SECRET={{ vault_app_session_secret }}",
      "PORT={{ app_port }}",
      "HEALTH_PATH={{ app_health_path }}",
    ], { mode: "0600", notify: "Restart app units" }),
    {
      name: "Install the systemd units",
      "ansible.builtin.copy": { src: `${SHARED_FILES}/app/{{ item }}.service`, dest: "/etc/systemd/system/{{ item }}.service", owner: "root", group: "root", mode: "0644" },
      loop: "{{ app_systemd_units }}", notify: "Restart app units",
    },
    // Build (after a new checkout), then restart, once the units and their environment exist.
    { name: "Build and restart before the health check", "ansible.builtin.meta": "flush_handlers" },
  ],
  service: [
    {
      name: "Run the units",
      "ansible.builtin.systemd": { name: "{{ item }}", state: "started", enabled: true, daemon_reload: true },
      loop: "{{ app_systemd_units }}",
    },
    {
      name: "Wait until the web unit answers its health path",
      "ansible.builtin.uri": { url: "http://127.0.0.1:{{ app_port }}{{ app_health_path }}" },
      register: "app_health", until: "app_health.status == 200", retries: 30, delay: 2,
      when: "'shop-app' in app_systemd_units",
    },
  ],
  handlers: [
    {
      name: "Build app",
      // The build command is the topology's shell line (e.g. `npm ci && npm run build`).
      "ansible.builtin.command": { argv: ["/bin/sh", "-c", "{{ app_build_command }}"], chdir: "{{ app_dir }}" },
      ...asApp, changed_when: true,
    },
    { ...handler("Restart app units", "{{ item }}", "restarted"), loop: "{{ app_systemd_units }}" },
  ],
};
