// The rehearsal's mirror (lab/backends/rehearsal/mirror.py), run for real with python3 on 127.0.86.1
// (this suite's alone), and the app repository it serves over git's dumb HTTP protocol.
// A converge once failed because one host's git clone could not connect for 134 s: the mirror did every
// TLS handshake in its one accepting thread, so a connection that stalled its handshake held up all
// others, and the served repository was hundreds of loose objects, one request each.
import { spawn, spawnSync, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { LabPki } from "../../lab/backends/loopback/pki";
import { packForDumbHttp } from "../../lab/backends/rehearsal/app-repo";

const ADDRESS = "127.0.86.1";
const PORT = 8443;
const MIRROR = path.resolve(__dirname, "../../lab/backends/rehearsal/mirror.py");

jest.setTimeout(60_000);

describe("rehearsal mirror", () => {
  let dir: string;
  let mirror: ChildProcess;
  let log = "";
  let ca: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mirror-"));
    const pki = new LabPki(path.join(dir, "pki"));
    const tls = pki.issue(path.join(dir, "tls"), "mirror", [ADDRESS]);
    ca = pki.caFile;
    fs.mkdirSync(path.join(dir, "root", "debian"), { recursive: true });
    fs.writeFileSync(path.join(dir, "root", "debian", "Release"), "Origin: rehearsal\n");
    mirror = spawn("/usr/bin/python3", ["-B", MIRROR, ADDRESS, String(PORT), path.join(dir, "root"), tls.certFile, tls.keyFile], { stdio: ["ignore", "pipe", "pipe"] });
    mirror.stdout!.on("data", (d) => { log += String(d); });
    mirror.stderr!.on("data", (d) => { log += String(d); });
    const deadline = Date.now() + 10_000;
    while (!log.includes("listening")) {
      if (Date.now() > deadline) throw new Error(`the mirror did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(async () => {
    mirror?.kill("SIGKILL");
    await new Promise((r) => (mirror.exitCode !== null || mirror.signalCode !== null ? r(null) : mirror.once("exit", r)));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const get = (file: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.get({ host: ADDRESS, port: PORT, path: file, ca: fs.readFileSync(ca), timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (d) => { body += String(d); });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${file} timed out`)));
    req.on("error", reject);
  });

  it("serves other clients while one connection stalls its TLS handshake", async () => {
    const stalled = net.connect(PORT, ADDRESS);
    await new Promise((r) => stalled.once("connect", r));
    try {
      // Within get's 5 s timeout, and again: the stalled one holds up nobody.
      for (let i = 0; i < 3; i++) expect(await get("/debian/Release")).toEqual({ status: 200, body: "Origin: rehearsal\n" });
    } finally {
      stalled.destroy();
    }
  });

  it("answers 200 concurrent requests", async () => {
    const answers = await Promise.all(Array.from({ length: 200 }, () => get("/debian/Release").then((r) => r.status)));
    expect(answers.filter((s) => s === 200)).toHaveLength(200);
  });

  it("serves the app repository packed: a host's clone is a handful of requests, not one per object", async () => {
    const git = (cwd: string, ...args: string[]) => {
      const r = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@invalid", "-c", "init.defaultBranch=main", ...args], { cwd, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    const work = path.join(dir, "work");
    fs.mkdirSync(work);
    git(work, "init", "-q");
    for (let i = 0; i < 150; i++) fs.writeFileSync(path.join(work, `f${i}.js`), `module.exports = ${i};\n`);
    git(work, "add", "-A");
    git(work, "commit", "-q", "-m", "many files");
    const bare = path.join(dir, "root", "git", "app.git");
    git(dir, "clone", "-q", "--bare", work, bare);
    const loose = () => fs.readdirSync(path.join(bare, "objects")).filter((d) => /^[0-9a-f]{2}$/.test(d)).flatMap((d) => fs.readdirSync(path.join(bare, "objects", d)));
    expect(loose().length).toBeGreaterThan(150); // the control: git's local clone leaves them loose
    packForDumbHttp(bare);
    expect(loose()).toEqual([]);

    const before = log.split("\n").filter((l) => l.includes("/git/app.git/")).length;
    const clone = path.join(dir, "clone");
    // Asynchronously: the mirror's request log reaches this process through its event loop.
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const p = spawn("git", ["clone", "-q", `https://${ADDRESS}:${PORT}/git/app.git`, clone], { env: { ...process.env, GIT_SSL_CAINFO: ca }, timeout: 30_000 });
      let stderr = "";
      p.stderr.on("data", (d) => { stderr += String(d); });
      p.on("close", (status) => resolve({ status, stderr }));
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    await new Promise((res) => setTimeout(res, 200));
    expect(fs.readFileSync(path.join(clone, "f149.js"), "utf8")).toBe("module.exports = 149;\n");
    const requests = log.split("\n").filter((l) => l.includes("/git/app.git/")).length - before;
    expect(requests).toBeGreaterThan(0);
    expect(requests).toBeLessThan(10);
  });
});
