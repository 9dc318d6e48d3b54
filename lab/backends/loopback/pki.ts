// The lab's private CA and per-host certificates, made with the real openssl CLI in the lab's run
// directory: what the playbooks' `pki` role does with community.crypto in production (an ECDSA P-256
// key per host, a certificate with the host's name and addresses, signed by one CA per deployment).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { TlsFiles } from "../../../playbooks-gen/render-env";

/** Days the lab's certificates are valid: labs live for hours. */
const LAB_CERT_DAYS = 30;

const openssl = (args: readonly string[]) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });

/** The CA of a lab (or test) directory: created once, kept for the directory's life. */
export class LabPki {
  readonly caFile: string;
  private readonly caKey: string;

  constructor(readonly dir: string, commonName = "shop-multiregion lab CA") {
    this.caFile = path.join(dir, "ca.crt");
    this.caKey = path.join(dir, "ca.key");
    if (fs.existsSync(this.caFile) && fs.existsSync(this.caKey)) return;
    // Readable by every service user (Patroni runs as postgres): the CA's certificate is shared; its key is 0600.
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", this.caKey, "-out", this.caFile,
      "-days", String(LAB_CERT_DAYS), "-subj", `/CN=${commonName}`,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    fs.chmodSync(this.caKey, 0o600);
    fs.chmodSync(this.caFile, 0o644);
  }

  /** Issues a certificate (server and client use) for `name` at `addresses` into `dir`: host.key (0600)
   * and host.crt. Every host shares the CA's certificate file (one machine). */
  issue(dir: string, name: string, addresses: readonly string[]): TlsFiles {
    fs.mkdirSync(dir, { recursive: true });
    const files: TlsFiles = { caFile: this.caFile, certFile: path.join(dir, "host.crt"), keyFile: path.join(dir, "host.key") };
    const csr = path.join(dir, "host.csr");
    const ext = path.join(dir, "host.ext");
    const san = [`DNS:${name}`, "DNS:localhost", ...[...new Set([...addresses, "127.0.0.1"])].map((a) => `IP:${a}`)].join(",");
    fs.writeFileSync(ext, [
      "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth,clientAuth", `subjectAltName=critical,${san}`, "",
    ].join("\n"));
    // No CommonName, as production's pki role: etcd's JSON gateway refuses client certificates with one.
    openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", files.keyFile, "-out", csr, "-subj", "/"]);
    fs.chmodSync(files.keyFile, 0o600);
    openssl(["x509", "-req", "-in", csr, "-CA", this.caFile, "-CAkey", this.caKey, "-CAcreateserial", "-days", String(LAB_CERT_DAYS),
      "-extfile", ext, "-out", files.certFile]);
    fs.rmSync(csr);
    fs.rmSync(ext);
    return files;
  }
}
