import assert from "node:assert/strict";
import { withPermissionHint } from "./permission_hint.ts";

const READ =
  'Cannot read config file "/srv/r.toml": Requires read access to "/srv/r.toml", run again with the --allow-read flag';
const WRITE =
  'cannot open the spool of backend "a" in "/srv/spool": Requires write access to "/srv/spool", run again with the --allow-write flag';

Deno.test("withPermissionHint() tells a binary's operator to rebuild or move the file", () => {
  for (const message of [READ, WRITE]) {
    const hinted = withPermissionHint(message, true);
    // Deno's advice (the flag alone) is replaced by the relay's.
    assert.ok(
      hinted.startsWith(message.replace(/, run again with .*$/, " (")),
      hinted,
    );
    assert.doesNotMatch(hinted, /run again with/);
    assert.match(
      hinted,
      /file access was fixed when it was built \(deno task compile --read\/--write\/--from-config\): rebuild it allowing the path/,
    );
  }
});

Deno.test("withPermissionHint() tells a deno run operator which flags to widen", () => {
  assert.match(
    withPermissionHint(READ, false),
    /\(run the relay with --allow-read\/--allow-write covering the path/,
  );
});

Deno.test("withPermissionHint() leaves other messages alone", () => {
  for (
    const message of [
      'Cannot read config file "/x": No such file or directory (os error 2)',
      "Requires net access", // not a path refusal
      "",
    ]
  ) {
    assert.equal(withPermissionHint(message, true), message);
  }
});
