/**
 * The applier's own guarantees, without an engine: unknown attributes fail by name, templates
 * resolve as Terraform's do, durations and tar headers are right.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { apply, durationNs, renderTemplate } from "./applier";
import { tar } from "./docker-api";
import { failedPostcondition, parseLifecycle } from "./lifecycle";
import { containerSpec } from "./provider-schema";

function tfJson(doc: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-e2e-applier-"));
  const f = path.join(dir, "cdk.tf.json");
  fs.writeFileSync(f, JSON.stringify(doc));
  return f;
}

const minimal = (container: Record<string, unknown>) => ({
  "//": { metadata: {} },
  terraform: { required_providers: { docker: { source: "kreuzwerker/docker", version: "3.6.2" } } },
  provider: { docker: [{}] },
  resource: {
    docker_image: { img: { name: "x:1", keep_locally: true } },
    docker_container: { c: { "//": { metadata: {} }, name: "c", image: "${docker_image.img.image_id}", ...container } },
  },
});

describe("e2e applier (no engine)", () => {
  test("an attribute it does not handle fails the apply with its name", async () => {
    await expect(apply(tfJson(minimal({ privileged: true })), {})).rejects.toThrow(/docker_container\.c: attribute "privileged" is not handled/);
    await expect(apply(tfJson(minimal({ upload: [{ file: "/a", source: "/etc/hosts" }] })), {})).rejects.toThrow(/"upload\[0\]\.source" is not handled/);
  });

  test("a stray ${...} fails the apply unless lenientTemplates", async () => {
    await expect(apply(tfJson(minimal({ env: ["A=${HOME}"] })), {})).rejects.toThrow(/Terraform would reject[\s\S]*"\$\{HOME\}"/);
  });

  test("variables: missing, undeclared and invalid values are refused", async () => {
    const doc = { ...minimal({}), variable: { pw: { type: "string", validation: [{ condition: '${can(regex("^[A-Za-z0-9_-]{16,}$", var.pw))}', error_message: "too short" }] } } };
    await expect(apply(tfJson(doc), {})).rejects.toThrow(/no value for variable\(s\): pw/);
    await expect(apply(tfJson(doc), { pw: "0123456789abcdef", other: "x" })).rejects.toThrow(/undeclared variable\(s\): other/);
    await expect(apply(tfJson(doc), { pw: "short" })).rejects.toThrow(/variable pw: too short/);
  });

  test("templates resolve references and unescape $${ and %%{", () => {
    const refs = { vars: { pw: "s3cret" }, networks: { network: "n" }, images: { i: "sha256:1" }, volumes: { v: "vol" } };
    const bad: string[] = [];
    expect(renderTemplate("a=${var.pw} n=${docker_network.network.name} i=${docker_image.i.image_id} v=${docker_volume.v.name}", refs, (t) => bad.push(t))).toBe(
      "a=s3cret n=n i=sha256:1 v=vol",
    );
    expect(renderTemplate('x "$${HOME:?}" %%{+Q}r $PATH', refs, (t) => bad.push(t))).toBe('x "${HOME:?}" %{+Q}r $PATH');
    expect(bad).toEqual([]);
    renderTemplate("${HOME} %{+Q}", refs, (t) => bad.push(t));
    expect(bad).toEqual(["${HOME}", "%{+Q}"]);
  });

  test("lifecycle: a postcondition on self.exit_code holds at 0 and fails at 1 with its error message, as Terraform reports it", () => {
    const { postconditions, errors } = parseLifecycle("docker_container", "c", {
      postcondition: [{ condition: "${self.exit_code == 0}", error_message: "The release steps failed." }],
    });
    expect(errors).toEqual([]);
    expect(failedPostcondition("docker_container.c", postconditions, { exit_code: 0 })).toBeUndefined();
    expect(failedPostcondition("docker_container.c", postconditions, { exit_code: 1 })).toBe(
      "Resource postcondition failed for docker_container.c: The release steps failed.\n  condition ${self.exit_code == 0}: self.exit_code is 1",
    );
    // Still running (no attach): exit_code is null, and null == 0 is false.
    expect(failedPostcondition("docker_container.c", postconditions, { exit_code: null })).toMatch(/self\.exit_code is null$/);
    const ne = parseLifecycle("docker_container", "c", { postcondition: [{ condition: "${self.exit_code != 3}", error_message: "not 3" }] }).postconditions;
    expect(failedPostcondition("x", ne, { exit_code: 0 })).toBeUndefined();
    expect(failedPostcondition("x", ne, { exit_code: 3 })).toMatch(/not 3/);
  });

  test("lifecycle: other arguments, other conditions and computed attributes fail the apply by name", async () => {
    expect(parseLifecycle("docker_container", "c", { create_before_destroy: true, replace_triggered_by: ["docker_image.img"] }).errors).toEqual([
      'docker_container.c: lifecycle argument "create_before_destroy" is not handled by the e2e applier',
      'docker_container.c: lifecycle argument "replace_triggered_by" is not handled by the e2e applier',
    ]);
    expect(parseLifecycle("docker_container", "c", { postcondition: [{ condition: "${self.exit_code < 2}", error_message: "m" }] }).errors[0]).toMatch(
      /is not a comparison of a self attribute with a literal/,
    );
    expect(parseLifecycle("docker_container", "c", { postcondition: [{ condition: "${self.ip_address == \"x\"}", error_message: "m" }] }).errors[0]).toMatch(
      /self\.ip_address is not an attribute the e2e applier knows after a create \(it knows: exit_code\)/,
    );
    await expect(apply(tfJson(minimal({ lifecycle: { precondition: [{ condition: "${true}", error_message: "m" }] } })), {})).rejects.toThrow(
      /lifecycle argument "precondition" is not handled/,
    );
    await expect(apply(tfJson(minimal({ exit_code: 0 })), {})).rejects.toThrow(/attribute "exit_code" is computed by the provider and cannot be set/);
  });

  test("cgroup_parent and a host_path volume: the provider's CgroupParent and bind (`host:container:ro`), volumes stay mounts", () => {
    const { body } = containerSpec(
      { name: "c", image: "i", cgroup_parent: "/webstack/s/c", volumes: [{ host_path: "/sys/fs/cgroup", container_path: "/host/sys/fs/cgroup", read_only: true }, { volume_name: "v", container_path: "/data" }] },
      {},
    );
    expect(body.HostConfig).toMatchObject({
      CgroupParent: "/webstack/s/c",
      Binds: ["/sys/fs/cgroup:/host/sys/fs/cgroup:ro"],
      Mounts: [{ Type: "volume", Source: "v", Target: "/data", ReadOnly: false }],
    });
  });

  test("durations are Go durations in nanoseconds", () => {
    expect(durationNs("10s")).toBe(10e9);
    expect(durationNs("1m30s")).toBe(90e9);
    expect(durationNs("500ms")).toBe(5e8);
    expect(() => durationNs("10")).toThrow();
  });

  test("tar: ustar headers with mode, size and checksum", () => {
    const t = tar([{ path: "/etc/a/b.sh", content: "echo\n", mode: 0o755 }]);
    expect(t.length).toBe(512 + 512 + 1024);
    expect(t.subarray(0, 8).toString()).toBe("etc/a/b.");
    expect(t.subarray(100, 107).toString()).toBe("0000755");
    expect(parseInt(t.subarray(124, 135).toString(), 8)).toBe(5);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : t[i];
    expect(parseInt(t.subarray(148, 154).toString(), 8)).toBe(sum);
  });
});
