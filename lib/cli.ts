// One convention for every command line of the project (npm start, npm run generate, npm run lab,
// npm run rehearse): node:util parseArgs (strict), -h/--help prints the usage and exits 0, errors are
// one line `error: <message>` (a usage error adds the usage), and exit codes mean the same everywhere.
import { parseArgs, type ParseArgsConfig } from "node:util";

export const EXIT = {
  ok: 0,
  /** A bug or an unexpected failure of the machine: the message and stack go to stderr. */
  internal: 1,
  /** Bad input: arguments, topology, outputs, an output folder the tool did not make. */
  badInput: 2,
  /** A policy check or a judged run (drill, converge, check, a measurement over its bound) failed. */
  policy: 3,
} as const;

export class UsageError extends Error {}
/** Bad input found after parsing (a value out of range, a drill that does not fit): exit 2, no usage. */
export class InputError extends Error {}

export interface Io {
  readonly log: (line: string) => void;
  readonly error: (line: string) => void;
}

export const CONSOLE_IO: Io = { log: (s) => console.log(s), error: (s) => console.error(s) };

type Options = NonNullable<ParseArgsConfig["options"]>;

/** parseArgs with the shared conventions: strict, `-h`/`--help` added, parse errors as UsageError.
 * Returns "help" when help was asked for. */
export function parseCli<O extends Options>(argv: readonly string[], options: O, allowPositionals = false) {
  const all = { ...options, help: { type: "boolean", short: "h", default: false } } as const;
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: all, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) return "help" as const;
  return parsed as { values: { [K in keyof O]?: O[K]["type"] extends "boolean" ? boolean : string }; positionals: string[] };
}

/** Prints an error in the shared format and returns its exit code. `userErrors` are the error classes
 * that mean bad input (exit 2); `policy` tells a failed policy check (exit 3); anything else is
 * internal (exit 1, with its stack). */
export function reportError(
  e: unknown, io: Io, usage: string,
  userErrors: ReadonlyArray<abstract new (...args: never[]) => Error>,
  policy: (e: Error) => boolean = () => false,
): number {
  if (e instanceof UsageError) {
    io.error(`error: ${e.message}`);
    io.error(usage);
    return EXIT.badInput;
  }
  if (e instanceof InputError || userErrors.some((c) => e instanceof c)) {
    io.error(`error: ${(e as Error).message}`);
    return EXIT.badInput;
  }
  if (e instanceof Error && policy(e)) {
    io.error(`error: policy check failed, nothing written:\n${e.message}`);
    return EXIT.policy;
  }
  io.error(`error: internal: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  return EXIT.internal;
}
