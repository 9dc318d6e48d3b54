// `drill NAME…`: the lab's drills (lab/drills, one code base) over the rehearsal backend. The drill
// process runs in the operator's namespace, where it reaches every host's public and private address.
import * as path from "path";
import { loadTopology } from "../../../lib/model";
import { checkDrills } from "../../drills/registry";
import { unsafeResults } from "../../drills/report";
import { runDrills } from "../../drills/runner";
import { rehearsalProvider } from "./backend";
import { RehearsalError } from "./errors";
import { netnsPath } from "./net";
import { planOf, type RehearsalPaths } from "./plan";
import { readState } from "./rehearsal";
import { mergeReport } from "./report";
import { runAsync } from "./sys";
import type { CliOptions } from "./cli";

const IN_OPERATOR = "SHOP_REHEARSAL_IN_OPERATOR_NS";

export async function run(o: CliOptions, p: RehearsalPaths, log: (l: string) => void): Promise<number> {
  if (!readState(p)) throw new RehearsalError("no rehearsal is up: run `npm run rehearse -- up` and `converge` first");
  const t = loadTopology(p.topology);
  const provider = rehearsalProvider(t, p);
  try {
    checkDrills(o.args, t, p.topology, provider);
  } catch (e) {
    throw new RehearsalError((e as Error).message); // an unknown or unfit drill name: bad input, exit 2
  }
  if (process.env[IN_OPERATOR] !== "1") {
    // Again, inside the operator's network namespace (the machine's own interfaces stay untouched).
    const argv = ["nsenter", `--net=${netnsPath(planOf(t).operatorNs)}`, "--", process.execPath, path.join(__dirname, "cli.js"), ...process.argv.slice(2)];
    const r = await runAsync(argv, { env: { ...process.env, [IN_OPERATOR]: "1" }, onOutput: (s) => process.stdout.write(s), timeoutMs: 60 * 60_000 });
    return r.code;
  }
  const results = await runDrills(provider, [t.timing], o.args, 1, log);
  const unsafe = unsafeResults(results);
  mergeReport(o.report ?? path.join(p.root, "report.json"), { drills: results });
  for (const r of unsafe) log(`UNSAFE: ${r.name} (${r.preset})`);
  return unsafe.length ? 3 : 0;
}
