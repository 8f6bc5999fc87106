/**
 * Test helper: reads the fenced code blocks of the project's Markdown docs,
 * so that tests can run what the docs show (configs, rules, recipes).
 */

/**
 * The bodies of the top-level fenced blocks whose info string is `info`,
 * in order (blocks inside block quotes are not top-level and are skipped).
 *
 * @param markdown The document.
 * @param info The info string, e.g. `toml`.
 * @returns Each block's text, ending with a newline.
 */
export function fencedBlocks(markdown: string, info: string): string[] {
  const blocks: string[] = [];
  const fence = /^```([^\n`]*)\n([\s\S]*?)^```[ \t]*$/gm;
  for (const match of markdown.matchAll(fence)) {
    if ((match[1] ?? "").trim() === info) blocks.push(match[2] ?? "");
  }
  return blocks;
}
