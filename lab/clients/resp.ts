// A minimal Redis client (RESP2 over TLS, or plain TCP): enough for PING/AUTH/SET/GET/INFO and SENTINEL
// commands. No npm Redis client is a dependency, and redis-cli per command would cost a process each time.
import * as fs from "fs";
import * as net from "net";
import * as tls from "tls";

/** How to reach a TLS-only Redis or Sentinel: the CA that signed its certificate (the server's
 * certificate must name the address connected to), and optionally a client certificate to present. */
export interface RedisTls {
  readonly caFile: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export type Reply = string | number | null | Reply[] | Error;

function parse(buf: Buffer, pos: number): [Reply, number] | null {
  const eol = buf.indexOf("\r\n", pos);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString("utf8", pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case "+": return [line, next];
    case "-": return [new Error(line), next];
    case ":": return [Number(line), next];
    case "$": {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return null;
      return [buf.toString("utf8", next, next + n), next + n + 2];
    }
    case "*": {
      const n = Number(line);
      if (n < 0) return [null, next];
      const items: Reply[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (!r) return null;
        items.push(r[0]);
        p = r[1];
      }
      return [items, p];
    }
    default: throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}

export class Redis {
  private buf = Buffer.alloc(0);
  private readonly waiting: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  private closedError: Error | null = null;

  private constructor(private readonly sock: net.Socket | tls.TLSSocket) {
    sock.on("data", (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        const r = parse(this.buf, 0);
        if (!r) break;
        this.buf = this.buf.subarray(r[1]);
        this.waiting.shift()?.resolve(r[0]);
      }
    });
    const fail = (e: Error) => {
      this.closedError ??= e;
      for (const w of this.waiting.splice(0)) w.reject(e);
    };
    sock.on("error", fail);
    sock.on("close", () => fail(new Error("connection closed")));
  }

  /** Connects over TLS when `withTls` is given (the generated servers speak nothing else), in plain
   * text otherwise (refusal checks). Resolves once the handshake is done. */
  static connect(host: string, port: number, timeoutMs = 2000, withTls?: RedisTls): Promise<Redis> {
    return new Promise((resolve, reject) => {
      const sock = withTls
        ? tls.connect({
          host, port, ca: fs.readFileSync(withTls.caFile), minVersion: "TLSv1.2",
          ...(withTls.certFile && withTls.keyFile ? { cert: fs.readFileSync(withTls.certFile), key: fs.readFileSync(withTls.keyFile) } : {}),
        })
        : net.connect({ host, port });
      const timer = setTimeout(() => { sock.destroy(); reject(new Error(`connect ${host}:${port} timed out`)); }, timeoutMs);
      sock.once(withTls ? "secureConnect" : "connect", () => { clearTimeout(timer); resolve(new Redis(sock)); });
      sock.once("error", (e) => { clearTimeout(timer); reject(e); });
    });
  }

  /** Sends one command; rejects on a Redis error reply, a lost connection or the timeout. */
  command(args: readonly (string | number)[], timeoutMs = 2000): Promise<Reply> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`${args[0]} timed out`)); this.close(); }, timeoutMs);
      this.waiting.push({
        resolve: (r) => { clearTimeout(timer); if (r instanceof Error) reject(r); else resolve(r); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join(""));
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

/** An ACL user and its password (every generated Redis and Sentinel refuses unauthenticated clients),
 * and the TLS the servers speak (absent: plain text). */
export interface RedisAuth {
  readonly user: string;
  readonly password: string;
  readonly tls?: RedisTls;
}

/** Connect (over `tls`, by default the one `auth` carries), authenticate as `auth` (none: as the
 * `default` user, which the generated servers refuse), run one command, disconnect. */
export async function redisOnce(host: string, port: number, auth: RedisAuth | null, args: readonly (string | number)[], withTls: RedisTls | undefined = auth?.tls): Promise<Reply> {
  const r = await Redis.connect(host, port, 2000, withTls);
  try {
    if (auth) await r.command(["AUTH", auth.user, auth.password]);
    return await r.command(args);
  } finally {
    r.close();
  }
}
