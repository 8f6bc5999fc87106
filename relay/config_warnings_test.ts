import assert from "node:assert/strict";
import { parseConfig } from "./config.ts";
import { configWarnings } from "./config_warnings.ts";

Deno.test("configWarnings() names outputs whose location has no path", () => {
  const config = parseConfig(`
[[http]]
name = "r"
output = [
  { name = "bare", location = "http://db1:8086" },
  { name = "slash", location = "https://user:secret@db2:8086/" },
  { name = "v2", location = "http://db3:8086/", api = "v2", token = "t" },
  { name = "fine", location = "http://db4:8086/write" },
  { name = "kapacitor", location = "http://k:9092/kapacitor/v1/write" },
]
`);
  assert.deepEqual(configWarnings(config), [
    'Output "bare" of relay "r": location "http://db1:8086/" has no path: writes would go to "/", which InfluxDB answers 404; write the whole write URL, e.g. "http://db1:8086/write"',
    'Output "slash" of relay "r": location "https://db2:8086/" has no path: writes would go to "/", which InfluxDB answers 404; write the whole write URL, e.g. "https://db2:8086/write"',
    'Output "v2" of relay "r": location "http://db3:8086/" has no path: writes would go to "/", which InfluxDB answers 404; write the whole write URL, e.g. "http://db3:8086/api/v2/write"',
  ]);
});

Deno.test("configWarnings() is empty for the sample config", async () => {
  const text = await Deno.readTextFile(
    new URL("../relay.toml", import.meta.url),
  );
  assert.deepEqual(configWarnings(parseConfig(text)), []);
});
