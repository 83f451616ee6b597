#!/usr/bin/env node
// The folders are the architecture, so the includes must follow it:
//   lib/         small utilities: includes lib/ only
//   targets/     the target registry: lib/ and include/ only
//   forkserver/  the fork server program: forkserver/, targets/, lib/, include/ (what spawnd's
//                client side shares with it is the program's protocol, forkserver/wire.h)
//   engine/      the process engine: engine/, targets/, lib/, forkserver/wire.h
//   objects/     the shared objects' registry and kinds: objects/, engine/, lib/ only
//   server/      HTTP plumbing: its headers include nothing of engine/ or handlers/
//   handlers/    one file per resource: anything below it
// and no two modules (a .c/.h pair, or a lone header) include each other,
// directly or around a longer circle. Prints PASS/FAIL like tests/check.h.
import fs from 'node:fs';
import path from 'node:path';

const FOLDERS = ['lib', 'targets', 'forkserver', 'engine', 'objects', 'server', 'handlers'];
const allowed = {
	lib: (inc) => inc.startsWith('lib/'),
	targets: (inc) => /^(targets|lib|include)\//.test(inc),
	forkserver: (inc) => /^(forkserver|targets|lib|include)\//.test(inc),
	engine: (inc) => /^(engine|targets|lib|include)\//.test(inc) || inc === 'forkserver/wire.h',
	objects: (inc) => /^(objects|engine|lib)\//.test(inc),
	server: (inc, file) => !file.endsWith('.h') || !/^(engine|handlers)\//.test(inc),
	handlers: () => true,
};

let failed = 0;
function result(name, problems) {
	if (problems.length === 0) { console.log(`PASS ${name}`); return; }
	failed++;
	console.log(`FAIL ${name}: ${problems.length} problem(s)`);
	for (const p of problems) console.log(`  ${p}`);
}

const files = FOLDERS.flatMap((d) => fs.existsSync(d)
	? fs.readdirSync(d).filter((f) => /\.[ch]$/.test(f)).map((f) => `${d}/${f}`) : []);
const includes = new Map();
for (const file of files) {
	const text = fs.readFileSync(file, 'utf8');
	includes.set(file, [...text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)].map((m) => m[1]));
}

const layerProblems = [];
for (const [file, incs] of includes) {
	const folder = file.split('/')[0];
	for (const inc of incs) {
		if (!allowed[folder](inc, file)) layerProblems.push(`${file} includes "${inc}"`);
	}
}
result('include_layers', layerProblems);

// Module graph: engine/proc.c, engine/proc.h and engine/proc_internal.h are one node, "engine/proc".
const moduleOf = (f) => f.replace(/\.[ch]$/, '').replace(/_internal$/, '');
const edges = new Map();
for (const [file, incs] of includes) {
	const from = moduleOf(file);
	if (!edges.has(from)) edges.set(from, new Set());
	for (const inc of incs) {
		const to = moduleOf(inc);
		if (to !== from && fs.existsSync(inc)) edges.get(from).add(to);
	}
}
const cycles = [];
const state = new Map();   // undefined: unseen, 1: on the path, 2: done
function visit(node, trail) {
	state.set(node, 1);
	for (const next of edges.get(node) || []) {
		if (state.get(next) === 1) cycles.push([...trail.slice(trail.indexOf(next)), next].join(' -> '));
		else if (!state.get(next)) visit(next, [...trail, next]);
	}
	state.set(node, 2);
}
for (const node of [...edges.keys()].sort()) if (!state.get(node)) visit(node, [node]);
result('include_cycles', cycles);
if (files.length === 0) { console.log('FAIL include_layers: no sources found (run from the project root)'); failed++; }
process.exit(failed ? 1 : 0);
