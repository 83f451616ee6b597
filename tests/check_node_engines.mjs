#!/usr/bin/env node
// Every npm package the tests install must run on Debian 12's own nodejs.
// The machines we work on may have a newer node preinstalled, which hides a
// dependency that dropped Node 18 (issue 9: playwright-core 1.62+ needs 20).
// So the check reads package-lock.json rather than trusting the node that runs
// it, and tests each package's engines.node against Debian 12's version and,
// when it differs, the node running now. Prints PASS/FAIL like tests/check.h.
import fs from 'node:fs';
import semver from 'semver';

// bookworm and bookworm-security ship nodejs 18.20.4+dfsg (apt-cache policy nodejs).
const DEBIAN12_NODE = '18.20.4';
const lockPath = process.argv[2] || 'package-lock.json';
const lock = JSON.parse(fs.readFileSync(lockPath, 'utf8'));
const versions = [...new Set([DEBIAN12_NODE, process.versions.node])];

const excluded = [];
let checked = 0;
for (const [where, pkg] of Object.entries(lock.packages || {})) {
	const range = pkg.engines && pkg.engines.node;
	if (!where || !range) continue;
	checked++;
	for (const v of versions) {
		if (!semver.satisfies(v, range, { includePrerelease: true }))
			excluded.push(`${where.replace(/^node_modules\//, '')}@${pkg.version} needs node ${range}, not ${v}`);
	}
}
if (checked === 0) {
	console.log(`FAIL node_engines: no package in ${lockPath} declares engines.node (wrong file?)`);
	process.exit(1);
}
if (excluded.length) {
	console.log(`FAIL node_engines: ${excluded.length} package(s) exclude node ${versions.join(' or ')}:`);
	for (const line of excluded) console.log(`  ${line}`);
	process.exit(1);
}
console.log(`PASS node_engines (${checked} packages accept node ${versions.join(' and ')})`);
