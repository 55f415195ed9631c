#!/usr/bin/env bash
# Builds the dashboard (make web): type-checks web/ strict, bundles web/src/main.tsx with esbuild from
# Debian's node-react/node-react-dom (no npm), and writes index.html plus content-hashed assets into the
# Server target's resources (Sources/Server/Resources/web, git-ignored), so `swift build` embeds them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/Sources/Server/Resources/web"
tsc --noEmit -p "$root/web"
rm -rf "$out/assets" "$out/index.html"
mkdir -p "$out/assets"
NODE_PATH=/usr/share/nodejs esbuild "$root/web/src/main.tsx" --bundle --jsx=automatic \
  --define:process.env.NODE_ENV=\"production\" --minify --target=es2020 --log-level=warning \
  --outdir="$out/assets" --entry-names='app.[hash]'
js=$(cd "$out/assets" && ls app.*.js)
css=$(cd "$out/assets" && ls app.*.css)
sed -e "s/@JS@/$js/" -e "s/@CSS@/$css/" "$root/web/index.html" > "$out/index.html"
echo "dashboard: $out/assets/$js ($(gzip -9c "$out/assets/$js" | wc -c) bytes gzipped), $css"
