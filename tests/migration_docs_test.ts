/**
 * docs/migration.md against the real command line: every `toml` block is a
 * complete config of this relay and passes `--check-config`; every `text`
 * block that is a config of another relay is refused, so no block is marked
 * wrongly; and the veepee fork's own sample config fails with exit 1 and
 * exactly the message the guide quotes.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { fencedBlocks } from "./_markdown.ts";
import { type RelayRun, runRelay } from "./_relay_process.ts";

const ROOT = fromFileUrl(new URL("../", import.meta.url));
const DOC = `${ROOT}docs/migration.md`;
const VEEPEE_SAMPLE = "tests/testdata/veepee-relay.toml";

function checkConfig(path: string): Promise<RelayRun> {
  return runRelay(["--check-config", "--config", path], ["--allow-all"]);
}

/** A `text` block is a relay config when it has a TOML table header. */
function isRelayConfig(block: string): boolean {
  return /^\[\[?(http|udp|filter|admin)[\].]/m.test(block);
}

async function withTempConfig<T>(
  text: string,
  use: (path: string) => Promise<T>,
): Promise<T> {
  const path = await Deno.makeTempFile({
    prefix: "migration-doc-",
    suffix: ".toml",
  });
  try {
    await Deno.writeTextFile(path, text);
    return await use(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("docs/migration.md: every toml block passes --check-config", async () => {
  const blocks = fencedBlocks(await Deno.readTextFile(DOC), "toml");
  // The original's config, its migrated form, the fork's translations.
  assert.ok(blocks.length >= 4, `only ${blocks.length} toml blocks found`);
  for (const [index, block] of blocks.entries()) {
    const result = await withTempConfig(block, checkConfig);
    assert.equal(
      result.code,
      0,
      `toml block ${index + 1} of docs/migration.md:\n${result.stderr}`,
    );
    assert.match(result.stdout, /: OK: /);
  }
});

Deno.test("docs/migration.md: configs of other relays in text blocks are refused", async () => {
  const blocks = fencedBlocks(await Deno.readTextFile(DOC), "text")
    .filter(isRelayConfig);
  assert.ok(blocks.length >= 1, "no other relay's config found in text blocks");
  for (const [index, block] of blocks.entries()) {
    const result = await withTempConfig(block, checkConfig);
    assert.equal(
      result.code,
      1,
      `text config block ${index + 1} loads: mark it toml if it is ours`,
    );
    assert.match(result.stderr, /unknown key/);
  }
});

Deno.test("--check-config refuses the veepee fork's sample config with the message the guide quotes", async () => {
  const result = await checkConfig(VEEPEE_SAMPLE);
  assert.equal(result.code, 1);
  assert.equal(result.stdout, "");
  const message = result.stderr.trim();
  assert.ok(
    message.startsWith(
      `Cannot load config "${VEEPEE_SAMPLE}": http[0].output[0].endpoints: unknown key (`,
    ),
    message,
  );
  const doc = await Deno.readTextFile(DOC);
  assert.ok(
    doc.includes(message),
    `docs/migration.md does not quote the real message:\n${message}`,
  );
});
