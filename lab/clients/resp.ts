// A minimal Redis client (RESP2 over TCP): enough for PING/AUTH/SET/GET/INFO and SENTINEL commands.
// No npm Redis client is a dependency, and redis-cli per command would cost a process each time.
import * as net from "net";

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

  private constructor(private readonly sock: net.Socket) {
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

  static connect(host: string, port: number, timeoutMs = 2000): Promise<Redis> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port });
      const timer = setTimeout(() => { sock.destroy(); reject(new Error(`connect ${host}:${port} timed out`)); }, timeoutMs);
      sock.once("connect", () => { clearTimeout(timer); resolve(new Redis(sock)); });
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

/** An ACL user and its password (every generated Redis and Sentinel refuses unauthenticated clients). */
export interface RedisAuth {
  readonly user: string;
  readonly password: string;
}

/** Connect, authenticate as `auth` (none: as the `default` user, which the generated servers refuse),
 * run one command, disconnect. */
export async function redisOnce(host: string, port: number, auth: RedisAuth | null, args: readonly (string | number)[]): Promise<Reply> {
  const r = await Redis.connect(host, port);
  try {
    if (auth) await r.command(["AUTH", auth.user, auth.password]);
    return await r.command(args);
  } finally {
    r.close();
  }
}
