// One synthesis in a fresh process, as `npm start` does it; reports its peak memory on stderr so the
// benchmark can read it (Node gives no child rusage).
import { run } from "../main";

const code = run(process.argv.slice(2), { log: () => undefined, error: (s) => process.stderr.write(`${s}\n`) });
process.stderr.write(`${JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS })}\n`);
process.exitCode = code;
