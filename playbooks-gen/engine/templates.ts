// Handlebars for config files: no HTML escaping, missing fields are errors, templates read once.
// Handlebars never sees Jinja; where Ansible must inject a secret at run time a template writes the
// Jinja through the `raw` block helper, so `{{ }}` reaches the file untouched.
import * as fs from "fs";
import * as path from "path";
import Handlebars from "handlebars";
import { withMarker } from "./marker";

const hbs = Handlebars.create();
hbs.registerHelper("raw", (options: Handlebars.HelperOptions) => options.fn(undefined));
// A JSON string is a valid YAML scalar: templates of YAML files quote values with it.
hbs.registerHelper("json", (value: unknown) => JSON.stringify(value));
// A YAML flow sequence of quoted strings, spaced as yamllint wants.
hbs.registerHelper("flow", (items: readonly unknown[]) => `[${items.map((i) => JSON.stringify(i)).join(", ")}]`);
// A long list as one YAML double-quoted scalar, broken after each separator with escaped line breaks
// (the parser drops them and the continuation's indent), so lines stay within yamllint's length.
hbs.registerHelper("lines", (value: string, separator: string) =>
  JSON.stringify(value).split(separator).join(`${separator}\\\n  `));
hbs.registerHelper("join", (items: readonly unknown[], separator: unknown) => items.join(typeof separator === "string" ? separator : ","));

/** `templates/` at the project root, found from this file both in the sources and in dist/. */
export function templatesDir(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, "templates");
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`templates/ not found above ${__dirname}; run from a checkout of shop-multiregion`);
}

const cache = new Map<string, Handlebars.TemplateDelegate>();

/** Renders `templates/<name>` with `view` and prepends the regenerate marker. */
export function renderTemplate(name: string, view: object): string {
  let template = cache.get(name);
  if (!template) {
    const source = fs.readFileSync(path.join(templatesDir(), name), "utf8");
    template = hbs.compile(source, { noEscape: true, strict: true });
    cache.set(name, template);
  }
  return withMarker(template(view));
}
