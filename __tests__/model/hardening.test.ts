// Adversarial inputs that once slipped through validation and produced Terraform or an Ansible tree
// that would break or endanger a real account: each is refused at load time with the field and the fix.
import { derivedNames } from "../../lib/model/limits";
import { example, problemsOf, variant } from "../support/topology";

const long = (n: number) => `p${"x".repeat(n - 2)}z`;

describe("names within provider limits", () => {
  it("fails when project + environment make the default bucket name longer than Spaces' 63", () => {
    const project = long(32);
    const environment = long(27);
    const bucket = `${project}-${environment}-pgbackrest`;
    expect(bucket).toHaveLength(71);
    expect(problemsOf((d) => { d.project = project; d.environment = environment; })).toContain(
      `project + environment make the bucket name "${bucket}" 71 characters, over Spaces' 63; shorten project or environment`,
    );
  });

  it("accepts the longest names that fit", () => {
    expect(() => variant((d) => { d.project = long(26); d.environment = long(25); })).not.toThrow(); // bucket: 26 + 25 + 12 = 63
  });

  it("checks droplets, volumes, tags, the project and the bucket", () => {
    const whats = new Set(derivedNames(example()).map((n) => n.what));
    expect([...whats].sort()).toEqual(["DigitalOcean project name", "bucket name", "droplet name", "tag", "volume name"]);
  });
});
