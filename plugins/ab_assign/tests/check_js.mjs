// Checks that the JavaScript of docs/plugins/ab_assign.md gives the variant
// that the plugin wrote in expected.jsonl: node check_js.mjs
import { readFileSync } from "node:fs";
import { webcrypto } from "node:crypto";

const crypto = globalThis.crypto ?? webcrypto; // a global from Node 19 on, as in browsers

// As in docs/plugins/ab_assign.md.
async function abAssign(key, { experiment, salt = experiment, variants, exposure = 1 }) {
  const bytes = new TextEncoder().encode(`${salt}.${key}`);
  const digest = new DataView(await crypto.subtle.digest("SHA-256", bytes));
  const u = Number(digest.getBigUint64(0) >> 11n) / 2 ** 53; // exact, in [0, 1)
  const total = variants.reduce((sum, [, weight]) => sum + weight, 0);
  let start = 0;
  for (const [name, weight] of variants) {
    const share = weight / total;
    if (u < start + share * exposure) return name;
    start += share;
    if (u < start) return null; // in this variant's block, outside the exposure
  }
  return exposure === 1 ? variants[variants.length - 1][0] : null;
}

// As in ../topology.yaml.
const experiment = {
  experiment: "checkout_button",
  variants: [["control", 50], ["one_click", 50]],
  exposure: 0.9,
};
const path = new URL("expected.jsonl", import.meta.url);
let failures = 0;
for (const line of readFileSync(path, "utf8").split("\n")) {
  const record = line ? JSON.parse(line) : null;
  if (record === null || record.error !== undefined) continue;
  const want = await abAssign(record.user_id, experiment);
  if ((record.variant ?? null) !== want) {
    console.log(`user ${record.user_id}: the plugin wrote ${record.variant}, JavaScript gives ${want}`);
    failures++;
  }
}
console.log(failures === 0 ? "ok: JavaScript agrees with the plugin" : `${failures} mismatches`);
process.exit(failures === 0 ? 0 : 1);
