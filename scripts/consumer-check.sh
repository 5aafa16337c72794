#!/usr/bin/env bash
# The package as a user gets it: pack it, make a project the way `cdktf init --template=typescript`
# makes one (ts-node app, ts-jest, tsc; cdktf and constructs at their latest compatible versions),
# install the tarball, write the README's files, and run what such a user runs. Network: the npm
# registry only. Leaves nothing behind.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CHECKPOINT_DISABLE=1
step() { echo "-- consumer: $*"; }

step "npm pack (runs the build)"
(cd "$root" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball="$(ls "$work"/cdktf-webstack-*.tgz)"
tar -tzf "$tarball" | sed 's#^package/##' | sort > "$work/listing.txt"
echo "   $(wc -l < "$work/listing.txt") files, $(du -k "$tarball" | cut -f1) KiB packed"
if grep -Ev '^(package\.json|README\.md|LICENSE|CHANGELOG\.md|dist/(lib|bin)/.*\.(js|d\.ts|js\.map|d\.ts\.map)|lib/.*\.ts)$' "$work/listing.txt"; then
  echo "the tarball holds files users do not run (above)" >&2; exit 1
fi
grep -qx 'dist/lib/index.js' "$work/listing.txt" && grep -qx 'dist/lib/testing.d.ts' "$work/listing.txt" && grep -qx 'dist/bin/cdktf-webstack.js' "$work/listing.txt"

step "cdktf init --template=typescript"
mkdir "$work/shop" && cd "$work/shop"
"$root/node_modules/.bin/cdktf" init --template=typescript --local --project-name=shop --project-description=shop \
  --enable-crash-reporting=false --providers= > "$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
# cdktf init installs npm's latest TypeScript (7), outside ts-node's and ts-jest's range (<7); the
# README tells users to pin 5.9, and so does this project.
npm install --silent --no-audit --no-fund -D typescript@~5.9 2> "$work/npm.log" || { cat "$work/npm.log"; exit 1; }
npm install --silent --no-audit --no-fund "$tarball" 2> "$work/npm.log" || { cat "$work/npm.log"; exit 1; }

step "the README's files"
node "$root/scripts/readme-files.js" . | sed 's/^/   /'

step "one copy of constructs"
npm ls constructs --all --parseable | sort -u | tee "$work/constructs.txt" | sed 's/^/   /'
test "$(wc -l < "$work/constructs.txt")" -eq 1

step "tsc (the project's tsconfig)"
npx tsc

step "cdktf synth (app: npx ts-node main.ts; the CLI as users have it, installed apart)"
"$root/node_modules/.bin/cdktf" synth > "$work/synth.log" 2>&1 || { cat "$work/synth.log"; exit 1; }
test -s cdktf.out/stacks/shop/cdk.tf.json && test -s cdktf.out/stacks/shop/capacity.md && test -s cdktf.out/stacks/shop/configs/lb.haproxy.cfg

step "node main.js (tsc's output)"
CDKTF_OUTDIR="$work/node.out" node main.js | tee "$work/node.log" | sed 's/^/   /'
grep -q '^shop: 11 containers; budgets: .* 0 warned' "$work/node.log"

step "an ESM consumer"
cat > esm.mjs <<'JS'
import { App } from "cdktf";
import { LoadBalancer, WebStack, WebTier } from "cdktf-webstack";
import { synthWebStack } from "cdktf-webstack/testing";
const stack = new WebStack(new App({ outdir: "esm.out" }), "esm");
const web = new WebTier(stack, "web", { image: "app:1", wsgiModule: "app.wsgi:application" });
new LoadBalancer(stack, "lb", { defaultTarget: web });
const result = synthWebStack(stack);
if (!result.file("lb", "/usr/local/etc/haproxy/haproxy.cfg").includes("backend app")) throw new Error("no haproxy.cfg");
console.log(`esm: ${Object.keys(result.files).length} containers with files`);
JS
node esm.mjs | sed 's/^/   /'

step "the README's testing example (ts-jest)"
npx jest --ci=false __tests__/shop.test.ts 2>&1 | tail -5 | sed 's/^/   /'

step "npx cdktf-webstack capacity (plain node, the project's ts-node)"
npx cdktf-webstack capacity | tee "$work/capacity.txt" | head -8 | sed 's/^/   /'
grep -q '^| shop/web | nodes | 2 |' "$work/capacity.txt"
echo "-- consumer: all passed"
