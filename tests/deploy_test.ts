/**
 * The shipped systemd unit is valid (`systemd-analyze verify`) and starts
 * the relay the way the README says.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const UNIT = `${ROOT}deploy/influxdb-relay.service`;

function which(command: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const path = `${dir}/${command}`;
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not in this directory
    }
  }
  return null;
}

const analyze = which("systemd-analyze");
if (analyze === null) {
  // deno-lint-ignore no-console
  console.error(
    "deploy_test: systemd-analyze not found, the unit check is SKIPPED (install systemd to run it)",
  );
}

Deno.test({
  name: "deploy/influxdb-relay.service passes systemd-analyze verify",
  ignore: analyze === null,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // verify wants the ExecStart binary to exist: stand in /bin/true.
      const unit = (await Deno.readTextFile(UNIT)).replaceAll(
        "/usr/local/bin/influxdb-relay",
        "/bin/true",
      );
      const path = `${dir}/influxdb-relay.service`;
      await Deno.writeTextFile(path, unit);
      const result = await new Deno.Command(analyze!, {
        args: ["verify", path],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(result.stderr);
      assert.equal(result.code, 0, stderr);
      assert.equal(
        stderr.split("\n").filter((l) => l.includes("influxdb-relay")).join(
          "\n",
        ),
        "",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deploy/influxdb-relay.service runs the binary with --config and a spool-friendly sandbox", async () => {
  const unit = await Deno.readTextFile(UNIT);
  assert.match(
    unit,
    /^ExecStart=\/usr\/local\/bin\/influxdb-relay --config \/etc\/influxdb-relay\/relay\.toml/m,
  );
  assert.match(unit, /^ExecStartPre=.* --check-config /m);
  assert.match(unit, /^ProtectSystem=strict$/m);
  assert.match(unit, /^StateDirectory=influxdb-relay$/m);
  assert.match(unit, /^Restart=on-failure$/m);
  assert.doesNotMatch(unit, /^MemoryDenyWriteExecute=yes/m);
});

Deno.test("the unit and the Containerfile build the binary for the directories they give it", async () => {
  const unit = await Deno.readTextFile(UNIT);
  const containerfile = await Deno.readTextFile(
    `${ROOT}deploy/Containerfile`,
  );
  const build =
    "deno task compile --read /etc/influxdb-relay --write /var/lib/influxdb-relay";
  // systemd's ConfigurationDirectory/StateDirectory are /etc/<name> and
  // /var/lib/<name>; the container mounts the config and the spool volume
  // there.
  assert.match(unit, /^ConfigurationDirectory=influxdb-relay$/m);
  assert.match(unit, /^StateDirectory=influxdb-relay$/m);
  assert.ok(unit.includes(`#   ${build}\n`), "unit's install steps");
  assert.ok(containerfile.includes(`&& ${build}\n`), "Containerfile's build");
  assert.match(containerfile, /^VOLUME \["\/var\/lib\/influxdb-relay"\]$/m);
  assert.match(
    containerfile,
    /^CMD \["--config", "\/etc\/influxdb-relay\/relay\.toml"\]$/m,
  );
});
