// hub_interop.mjs: Hugging Face's own hub library (@huggingface/hub, pinned in tests/package-lock.json)
// on the cache `gptoss pull` shares (tests/t_pull.sh):
//   node hub_interop.mjs scan CACHE
//     scanCacheDir: what the library sees in a cache gptoss wrote, as JSON: per repository its id,
//     files, bytes, and per revision its commit, refs and file paths (resolved links), and warnings
//   node hub_interop.mjs download CACHE HUB_URL REPO COMMIT PATH...
//     downloadFileToCacheDir of each PATH at COMMIT from the loopback Hub (tests/hub_double.mjs), so
//     gptoss can be shown to read a cache the library wrote
import { downloadFileToCacheDir, scanCacheDir } from '@huggingface/hub';

const [mode, cacheDir, ...rest] = process.argv.slice(2);
console.debug = () => {}; // the library logs each download there
if (mode === 'scan') {
  const r = await scanCacheDir(cacheDir);
  const out = {
    warnings: r.warnings.map((w) => String(w)),
    repos: r.repos.map((repo) => ({
      id: repo.id.name,
      type: repo.id.type,
      filesCount: repo.filesCount,
      size: repo.size,
      revisions: repo.revisions.map((rev) => ({
        commit: rev.commitOid,
        refs: rev.refs,
        // (the library lists a snapshot's top-level files only)
        files: rev.files.map((f) => ({ path: f.path.slice(rev.path.length + 1), blob: f.blob.path, size: f.blob.size }))
          .sort((a, b) => a.path.localeCompare(b.path)),
      })),
    })),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} else if (mode === 'download') {
  const [hubUrl, repo, revision, ...paths] = rest;
  for (const path of paths) {
    const p = await downloadFileToCacheDir({ repo, path, revision, hubUrl, cacheDir });
    process.stdout.write(`${p}\n`);
  }
} else {
  process.stderr.write('usage: hub_interop.mjs scan CACHE | download CACHE HUB_URL REPO COMMIT PATH...\n');
  process.exit(2);
}
