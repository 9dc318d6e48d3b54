// Patroni + PostgreSQL 15 + pgBackRest + postgres exporter on the database hosts.
import { PORTS } from "../../lib/model/ports";
import { PRODUCTION_TLS } from "../render-env";
import { PATRONI_ETCD_ENV_LINES } from "../views/etcd-auth";
import { SSL_CERT_GROUP } from "./pki";
import { apt, copyFile, directory, handler, HOST_FILES, secretFile, SHARED_FILES, started, type Role, type Task } from "./role";

export const PATRONI_CONFIG_FILE = "/etc/patroni/config.yml"; // the path Debian's patroni.service runs
export const PATRONI_ENV_FILE = "/etc/patroni_env.conf"; // the EnvironmentFile Debian's patroni.service reads

/** This node's Patroni REST API: HTTPS, its certificate names 127.0.0.1 and comes from the deployment CA. */
const restapi = "https://127.0.0.1:{{ patroni_restapi_port }}";
const asPostgres = { become: true, become_user: "postgres" };
const onPrimary = "patroni_primary_check.status == 200";
const backupJob = (type: string) =>
  `curl -sf -o /dev/null --cacert ${PRODUCTION_TLS.caFile} ${restapi}/primary && pgbackrest --stanza={{ patroni_scope }} --type=${type} backup`;

const sqlTasks: Task[] = [
  {
    name: "Ask Patroni whether this node is the primary",
    "ansible.builtin.uri": { url: `${restapi}/primary`, ca_path: PRODUCTION_TLS.caFile, status_code: [200, 503] },
    register: "patroni_primary_check",
  },
  {
    name: "Create the app's database user",
    "community.postgresql.postgresql_user": { name: "{{ patroni_app_user }}", password: "{{ vault_app_database_password }}", login_unix_socket: "{{ patroni_socket_dir }}" },
    ...asPostgres, no_log: true, when: onPrimary,
  },
  {
    name: "Create the app's database",
    "community.postgresql.postgresql_db": { name: "{{ patroni_app_database }}", owner: "{{ patroni_app_user }}", login_unix_socket: "{{ patroni_socket_dir }}" },
    ...asPostgres, when: onPrimary,
  },
  {
    name: "Create the monitoring user",
    "community.postgresql.postgresql_user": { name: "postgres_exporter", password: "{{ vault_postgres_exporter_password }}", login_unix_socket: "{{ patroni_socket_dir }}" },
    ...asPostgres, no_log: true, when: onPrimary,
  },
  {
    name: "Let the monitoring user read statistics",
    "community.postgresql.postgresql_membership": { groups: ["pg_monitor"], target_roles: ["postgres_exporter"], login_unix_socket: "{{ patroni_socket_dir }}" },
    ...asPostgres, when: onPrimary,
  },
  {
    name: "Create the pgBackRest stanza in the bucket",
    "ansible.builtin.command": { argv: ["pgbackrest", "--stanza={{ patroni_scope }}", "stanza-create"] },
    // The first WAL archive-push (archive_mode is on from the bootstrap) may hold the stanza's lock
    // just then: stanza-create fails on the lock, and succeeds a few seconds later.
    ...asPostgres, register: "pgbackrest_stanza_create", until: "pgbackrest_stanza_create.rc == 0", retries: 10, delay: 6,
    changed_when: "'already exists' not in pgbackrest_stanza_create.stdout", when: onPrimary,
  },
];

/** Container types (Ansible's virtual facts) whose kernel is the host's: no modules, no watchdog. */
export const CONTAINER_TYPES = ["systemd-nspawn", "container", "lxc", "docker", "podman", "containerd"];
const NOT_IN_CONTAINER = `ansible_virtualization_type not in ${JSON.stringify(CONTAINER_TYPES).replace(/"/g, "'").replace(/,/g, ", ")}`;

/** A cluster has a leader (a standby cluster: a standby leader) whose PostgreSQL runs, as the node's
 * REST API reads it from the DCS. Not "this node is primary": on a re-run after a failover, or when a
 * rebuilt bootstrap node joins an existing cluster, the leader is elsewhere and that is fine. Patroni
 * 3.0.2 reports a running member as `running`; later versions call a standby leader `streaming`. */
export const CLUSTER_HAS_LEADER = "patroni_cluster.status == 200 and "
  + "(patroni_cluster.json.members | selectattr('role', 'match', '(standby_)?leader$') | selectattr('state', 'in', ['running', 'streaming']) | list | length) > 0";

/** Patroni starts in waves (host_vars patroni_start_wave, from the model), each after the previous
 * one's cluster has a leader, so on a fresh deploy the node the model designates creates the cluster:
 * started together, whichever node won the race bootstrapped it (the trial converge saw the other
 * region's `nosync` replica lead). On a re-run every node already runs and nothing waits long. */
const START_WAVES: ReadonlyArray<readonly [wave: number, name: string]> = [
  [1, "Start Patroni on the node that creates the cluster (the primary region's first)"],
  [2, "Start Patroni on the node that creates the standby cluster from the primary region"],
  [3, "Start Patroni on the other nodes, which clone from their cluster's leader"],
];
const startTasks: Task[] = START_WAVES.flatMap(([wave, name]) => [
  { ...started(name, "patroni"), when: `patroni_start_wave == ${wave}` },
  ...(wave < 3 ? [{
    name: "Wait until its cluster has a running leader",
    "ansible.builtin.uri": { url: `${restapi}/cluster`, ca_path: PRODUCTION_TLS.caFile },
    register: "patroni_cluster", until: CLUSTER_HAS_LEADER, retries: 60, delay: 5, when: `patroni_start_wave == ${wave}`,
  }] : []),
]);

/** The kernel watchdog Patroni arms before it leads: a leader whose Patroni stalls (paused, hung) is
 * reset before its key expires, so it cannot keep accepting writes beside a new primary (the lab's
 * patroni-freeze drill showed that split brain before the lab had a watchdog). patroni.yml asks for
 * it in `automatic` mode; the lab boots the same file with its own device (a named pipe, Patroni's
 * `testing` driver, a softdog stand-in); these tasks make sure production has one. */
const watchdogTasks: Task[] = [
  {
    name: "Load the softdog watchdog at every boot",
    "ansible.builtin.copy": { dest: "/etc/modules-load.d/softdog.conf", content: "softdog\n", owner: "root", group: "root", mode: "0644" },
  },
  { name: "Find out whether this host is a container", "ansible.builtin.setup": { gather_subset: ["!all", "!min", "virtual"] } },
  // A container shares the host's kernel: it cannot load modules and has no /dev/watchdog (the
  // rehearsal's systemd-nspawn hosts). Patroni's watchdog mode `automatic` then runs without one.
  { name: "Load the softdog watchdog now (not in a container)", "community.general.modprobe": { name: "softdog", state: "present" }, when: NOT_IN_CONTAINER },
  directory("Create the udev rules directory", "/etc/udev/rules.d", "root", "0755"),
  {
    name: "Let Patroni (user postgres) open the watchdog after every boot",
    "ansible.builtin.copy": { dest: "/etc/udev/rules.d/61-patroni-watchdog.rules", content: 'KERNEL=="watchdog", OWNER="postgres", GROUP="postgres", MODE="0600"\n', owner: "root", group: "root", mode: "0644" },
  },
  {
    name: "Let Patroni (user postgres) open the watchdog now (not in a container)",
    "ansible.builtin.file": { path: "/dev/watchdog", owner: "postgres", group: "postgres", mode: "0600" }, when: NOT_IN_CONTAINER,
  },
];

export const patroniRole: Role = {
  name: "patroni",
  description: "PostgreSQL 15 managed by Patroni 3.0.2 (etcd DCS), WAL archive and backups with pgBackRest, postgres exporter.",
  inputs: [
    { name: "patroni_config_file", type: "path", default: PATRONI_CONFIG_FILE, description: "Where the rendered patroni.yml goes (Debian's unit reads it)." },
    { name: "patroni_env_file", type: "path", default: PATRONI_ENV_FILE, description: "Root-only environment file with PATRONI_*_PASSWORD from Vault." },
    { name: "patroni_scope", type: "str", default: "", description: "Cluster name, also the pgBackRest stanza (host_vars)." },
    { name: "patroni_data_dir", type: "path", default: "/var/lib/postgresql/15/main", description: "PostgreSQL data directory (host_vars)." },
    { name: "patroni_socket_dir", type: "path", default: "/var/run/postgresql", description: "Unix socket directory (host_vars)." },
    { name: "patroni_log_dir", type: "path", default: "/var/log/postgresql", description: "Patroni and pgBackRest log directory (host_vars)." },
    { name: "patroni_volume_device", type: "path", default: "", description: "Block device of the droplet's data volume (host_vars)." },
    { name: "patroni_volume_mount", type: "path", default: "/var/lib/postgresql", description: "Where the data volume is mounted." },
    { name: "patroni_postgres_version", type: "int", default: 15, description: "PostgreSQL major version (Debian 12 ships 15)." },
    { name: "patroni_restapi_port", type: "int", default: PORTS.patroniApi, description: "Patroni REST API port." },
    { name: "patroni_ttl", type: "int", default: 30, description: "Leader key TTL, seconds (also in patroni.yml; checked by the preflight)." },
    { name: "patroni_loop_wait", type: "int", default: 10, description: "Seconds between Patroni's HA loops." },
    { name: "patroni_retry_timeout", type: "int", default: 10, description: "Seconds Patroni retries DCS and PostgreSQL operations." },
    { name: "patroni_app_database", type: "str", default: "shop", description: "Database the app uses." },
    { name: "patroni_app_user", type: "str", default: "shop", description: "Database user the app logs in as." },
    { name: "patroni_start_wave", type: "int", default: 3, description: "When this node starts Patroni on a fresh deploy: 1 creates the cluster, 2 creates a standby cluster, 3 clones (host_vars)." },
  ],
  install: [
    {
      name: "Check the timing rule Patroni relies on",
      "ansible.builtin.assert": {
        that: ["patroni_loop_wait + 2 * patroni_retry_timeout <= patroni_ttl"],
        fail_msg: "patroni_ttl must be >= patroni_loop_wait + 2 * patroni_retry_timeout; pick another timing preset",
      },
    },
    { name: "Format the data volume", "community.general.filesystem": { dev: "{{ patroni_volume_device }}", fstype: "ext4" } },
    {
      name: "Mount the data volume where PostgreSQL keeps its clusters",
      "ansible.posix.mount": { path: "{{ patroni_volume_mount }}", src: "{{ patroni_volume_device }}", fstype: "ext4", opts: "defaults,nofail,discard,noatime", state: "mounted" },
    },
    directory("Create the postgresql-common drop-in directory", "/etc/postgresql-common/createcluster.d", "root", "0755"),
    copyFile("Keep Debian from creating its own cluster", `${SHARED_FILES}/patroni/createcluster.conf`, "/etc/postgresql-common/createcluster.d/shop.conf", { mode: "0644" }),
    apt("Install PostgreSQL, Patroni and pgBackRest", ["postgresql-{{ patroni_postgres_version }}", "patroni", "python3-psycopg2", "pgbackrest", "prometheus-postgres-exporter"]),
    { name: "Leave PostgreSQL to Patroni", "ansible.builtin.systemd": { name: "postgresql", state: "stopped", enabled: false } },
  ],
  configure: [
    directory("Give the data volume to postgres", "{{ patroni_volume_mount }}", "postgres", "0755"),
    // PostgreSQL and Patroni's REST API present the host's certificate; its key is root:ssl-cert 0640.
    // postgresql-common already adds postgres to ssl-cert when the package is installed (common installs
    // ssl-cert first); this keeps it so. A Patroni started before that needs a restart to read the key.
    { name: "Let postgres read the host's TLS key", "ansible.builtin.user": { name: "postgres", groups: [SSL_CERT_GROUP], append: true } },
    directory("Create the Patroni config directory", "/etc/patroni", "root", "0755"),
    // Owned by postgres, not root, so Patroni can move a failed data directory aside and pg_basebackup
    // can create a new one there (remove_data_directory_on_rewind_failure rebuilds a replica).
    directory("Create the data directory's parent", "{{ patroni_data_dir | dirname }}", "postgres", "0755"),
    directory("Create the data directory", "{{ patroni_data_dir }}", "postgres", "0700"),
    directory("Create the log directory", "{{ patroni_log_dir }}", "postgres", "0750"),
    directory("Create the pgBackRest spool directory", "/var/spool/pgbackrest", "postgres", "0750"),
    directory("Create the pgBackRest include directory", "/etc/pgbackrest/conf.d", "root", "0755"),
    ...watchdogTasks,
    directory("Create the Patroni unit drop-in directory", "/etc/systemd/system/patroni.service.d", "root", "0755"),
    copyFile("Keep restarting Patroni until its DCS answers", `${SHARED_FILES}/patroni/patroni-unit.conf`, "/etc/systemd/system/patroni.service.d/shop.conf", { mode: "0644" }),
    copyFile("Install patroni.yml", `${HOST_FILES}/patroni.yml`, "{{ patroni_config_file }}", { owner: "postgres", group: "postgres", mode: "0640", notify: "Reload patroni" }),
    // Patroni must be restarted (a failover for the leader) to read new passwords: done by hand.
    secretFile("Write Patroni's passwords from Vault", "{{ patroni_env_file }}", [
      "PATRONI_SUPERUSER_PASSWORD={{ vault_patroni_superuser_password }}",
      "PATRONI_REPLICATION_PASSWORD={{ vault_patroni_replication_password }}",
      "PATRONI_REWIND_PASSWORD={{ vault_patroni_rewind_password }}",
      "PATRONI_RESTAPI_USERNAME=patroni",
      "PATRONI_RESTAPI_PASSWORD={{ vault_patroni_restapi_password }}",
      // The cluster's etcd user's password (patroni.yml names the user); patronictl on this host reads it too.
      ...PATRONI_ETCD_ENV_LINES,
    ], { mode: "0600" }),
    copyFile("Install pgbackrest.conf", `${HOST_FILES}/pgbackrest.conf`, "/etc/pgbackrest.conf", { owner: "postgres", group: "postgres", mode: "0640" }),
    secretFile("Write the bucket keys and cipher passphrase from Vault", "/etc/pgbackrest/conf.d/repository.conf", [
      "[global]",
      "repo1-s3-key={{ vault_pgbackrest_s3_key }}",
      "repo1-s3-key-secret={{ vault_pgbackrest_s3_key_secret }}",
      "repo1-cipher-pass={{ vault_pgbackrest_cipher_pass }}",
    ], { group: "postgres", mode: "0640" }),
    // Through the Unix socket: the exporter runs beside PostgreSQL, so nothing of it crosses a network,
    // and TCP would need TLS (pg_hba has only hostssl rules). sslmode=disable applies to the socket only.
    secretFile("Write the exporter's connection string from Vault", "/etc/default/prometheus-postgres-exporter", [
      "DATA_SOURCE_NAME=\"postgresql://postgres_exporter:{{ vault_postgres_exporter_password | urlencode }}@/postgres?host={{ patroni_socket_dir | urlencode }}&sslmode=disable\"",
    ], { mode: "0600", notify: "Restart postgres exporter" }),
  ],
  service: [
    ...startTasks,
    {
      name: "Wait until PostgreSQL runs under Patroni",
      "ansible.builtin.uri": { url: `${restapi}/health`, ca_path: PRODUCTION_TLS.caFile },
      register: "patroni_health", until: "patroni_health.status == 200", retries: 60, delay: 5,
    },
    ...sqlTasks,
    {
      name: "Take a full backup weekly (on the primary only)",
      "ansible.builtin.cron": { name: "pgbackrest full", user: "postgres", weekday: "0", hour: "1", minute: "0", job: backupJob("full") },
    },
    {
      name: "Take a differential backup on the other days (on the primary only)",
      "ansible.builtin.cron": { name: "pgbackrest diff", user: "postgres", weekday: "1-6", hour: "1", minute: "0", job: backupJob("diff") },
    },
    started("Run the postgres exporter", "prometheus-postgres-exporter"),
  ],
  handlers: [
    // Patroni applies patroni.yml on SIGHUP; a restart would stop PostgreSQL (and fail over a leader).
    handler("Reload patroni", "patroni", "reloaded"),
    handler("Restart postgres exporter", "prometheus-postgres-exporter", "restarted"),
  ],
};
