// HTTPS with the deployment's CA for the lab's own clients (Patroni's REST API, etcd's JSON gateway):
// Node's fetch takes no CA of its own, so requests go through the https module.
import * as fs from "fs";
import * as https from "https";

/** What a lab client trusts (the deployment CA) and presents where a server asks for a certificate. */
export interface TlsClient {
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export function tlsClient(files: { readonly caFile: string; readonly certFile?: string; readonly keyFile?: string }): TlsClient {
  const read = (f?: string) => (f ? fs.readFileSync(f) : undefined);
  return { ca: fs.readFileSync(files.caFile), cert: read(files.certFile), key: read(files.keyFile) };
}

export interface HttpsAnswer {
  readonly status: number;
  readonly body: string;
}

/** One request, the server's certificate verified against `tls.ca`; rejects on no answer within the timeout. */
export function httpsRequest(url: string, tls: TlsClient, opts: { method?: string; body?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpsAnswer> {
  const timeoutMs = opts.timeoutMs ?? 1500;
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: opts.method ?? "GET", headers: opts.headers, ca: tls.ca, cert: tls.cert, key: tls.key, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => { body += d; });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** The parsed JSON body of a request (whatever the status). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function httpsJson(url: string, tls: TlsClient, opts: Parameters<typeof httpsRequest>[2] = {}): Promise<any> {
  return JSON.parse((await httpsRequest(url, tls, opts)).body);
}
