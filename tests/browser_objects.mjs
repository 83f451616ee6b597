#!/usr/bin/env node
// The dashboard's views of shared objects and pools (issue 16 point 5), in a real
// browser (headless Debian Chromium, playwright-core) against the real server:
//   - a lock held by a lease, a semaphore, a queue with items, an event, a barrier and
//     a namespace made through the API are listed by kind with exactly their values
//     (holder's owner, fence and lease expiry; queue depths; the event's flag...);
//   - they change through the API (the lock released, an item got, the event set, a
//     key written) and the page shows it without a reload;
//   - a deep link opens one object (its holders, or a namespace's keys and versions);
//   - a pool with a map where one item fails: its workers (links to their process
//     pages), task counts, the job's progress and the failed item with its error
//     value; a second job appears live;
//   - a read token's session sees the same objects;
//   - the controls are labelled, and the page holds at a phone's width.
// Screenshots go to $SPAWND_SCREENSHOTS_DIR (default build/screenshots) as screenshot() does.
// Prints PASS/FAIL lines like the C tests (tests/check.h).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSpawnd, stopSpawnd, launch, screenshot } from './browser_dashboard.mjs';

let failed = 0;

function result(name, ok, why) {
	if (ok) console.log(`PASS ${name}`);
	else { failed++; console.log(`FAIL ${name}: ${why}`); }
}

async function call(url, method, p, body, headers = {}) {
	const r = await fetch(url + p, { method, headers: { 'content-type': 'application/json', ...headers },
		body: body === undefined ? undefined : JSON.stringify(body) });
	const json = await r.json().catch(() => null);
	if (r.status >= 400) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(json)}`);
	return json;
}

// The objects every case looks at, made through the API.
async function makeObjects(url) {
	await call(url, 'PUT', '/sync/locks/dash-lock', {});
	const lock = await call(url, 'POST', '/sync/locks/dash-lock/acquire', { lease: 300 });
	await call(url, 'PUT', '/sync/semaphores/dash-sem', { value: 3, bounded: true });
	const sem = await call(url, 'POST', '/sync/semaphores/dash-sem/acquire', { lease: 300 });
	await call(url, 'PUT', '/queues/dash-queue', { maxsize: 10 });
	await call(url, 'POST', '/queues/dash-queue/put', { items: ['a', 'b', 'c'] });
	await call(url, 'PUT', '/sync/events/dash-event', {});
	await call(url, 'PUT', '/sync/barriers/dash-barrier', { parties: 3 });
	await call(url, 'PUT', '/namespaces/dash-ns', {});
	await call(url, 'PUT', '/namespaces/dash-ns/keys/answer', 42);
	return { lock, sem };
}

const cell = (tab, kind, name, col) => tab.locator(`#kind-${kind} tr[data-name="${name}"] td[data-col="${col}"]`);
const textOf = async (loc) => ((await loc.textContent()) || '').trim();

async function caseObjectsListed(tab, url, made) {
	await tab.goto(`${url}/#/objects`);
	await cell(tab, 'namespaces', 'dash-ns', 'version').waitFor();
	await cell(tab, 'locks', 'dash-lock', 'holders').waitFor();
	const rows = {};
	for (const k of ['locks', 'semaphores', 'conditions', 'events', 'barriers', 'queues', 'namespaces'])
		rows[k] = await tab.locator(`#kind-${k} tr[data-name]`).count();
	const lockHolder = cell(tab, 'locks', 'dash-lock', 'holders').locator('.holder');
	const got = {
		locked: await textOf(cell(tab, 'locks', 'dash-lock', 'locked')),
		owner: await lockHolder.getAttribute('data-owner'),
		holder: await textOf(lockHolder),
		expires: await lockHolder.locator('time').getAttribute('datetime'),
		lockFence: await textOf(cell(tab, 'locks', 'dash-lock', 'fence')),
		semValue: await textOf(cell(tab, 'semaphores', 'dash-sem', 'value')),
		semOwner: await cell(tab, 'semaphores', 'dash-sem', 'holders').locator('.holder').getAttribute('data-owner'),
		semExpires: await cell(tab, 'semaphores', 'dash-sem', 'holders').locator('time').getAttribute('datetime'),
		queue: await Promise.all(['size', 'unfinished', 'in_flight', 'getters', 'putters', 'maxsize']
			.map((c) => textOf(cell(tab, 'queues', 'dash-queue', c)))),
		eventSet: await textOf(cell(tab, 'events', 'dash-event', 'set')),
		barrier: await Promise.all(['parties', 'waiting', 'broken'].map((c) => textOf(cell(tab, 'barriers', 'dash-barrier', c)))),
		ns: [await textOf(cell(tab, 'namespaces', 'dash-ns', 'version')), await textOf(cell(tab, 'namespaces', 'dash-ns', 'keys'))],
	};
	const ok = JSON.stringify(rows) === JSON.stringify({ locks: 1, semaphores: 1, conditions: 0, events: 1, barriers: 1, queues: 1, namespaces: 1 }) &&
		got.locked === 'yes' && got.owner === made.lock.owner && got.holder.startsWith(`${made.lock.owner} fence 1 until`) &&
		got.expires === made.lock.expires_at && got.lockFence === '1' &&
		got.semValue === '2 of 3' && got.semOwner === made.sem.owner && got.semExpires === made.sem.expires_at &&
		JSON.stringify(got.queue) === JSON.stringify(['3', '3', '0', '0', '0', '10']) && got.eventSet === 'no' &&
		JSON.stringify(got.barrier) === JSON.stringify(['3', '0', 'no']) && JSON.stringify(got.ns) === JSON.stringify(['1', 'answer']);
	result('objects_view_lists_every_object_by_kind_with_its_values', ok,
		`rows ${JSON.stringify(rows)} shown ${JSON.stringify(got)} made ${JSON.stringify(made)}`);
	await screenshot(tab, 'objects');
}

// Changes made through the API reach the open page, which is not reloaded.
async function caseObjectsLive(tab, url, made) {
	await tab.evaluate(() => { window.notReloaded = true; });
	await call(url, 'POST', '/sync/locks/dash-lock/release', { owner: made.lock.owner });
	const item = await call(url, 'POST', '/queues/dash-queue/get');
	await call(url, 'POST', '/sync/events/dash-event/set');
	await cell(tab, 'locks', 'dash-lock', 'locked').filter({ hasText: /^no$/ }).waitFor({ timeout: 15000 });
	await cell(tab, 'queues', 'dash-queue', 'size').filter({ hasText: /^2$/ }).waitFor({ timeout: 15000 });
	await cell(tab, 'events', 'dash-event', 'set').filter({ hasText: /^yes$/ }).waitFor({ timeout: 15000 });
	const holders = await textOf(cell(tab, 'locks', 'dash-lock', 'holders'));
	const unfinished = await textOf(cell(tab, 'queues', 'dash-queue', 'unfinished'));
	const same = await tab.evaluate(() => window.notReloaded === true);
	result('objects_view_follows_changes_without_a_reload',
		holders === 'none' && item.item === 'a' && unfinished === '3' && same,
		`holders ${holders}, got ${JSON.stringify(item)}, unfinished ${unfinished}, same page ${same}`);
}

async function caseObjectDeepLinks(tab, url) {
	await call(url, 'PUT', '/sync/locks/dash-deep', {});
	const held = await call(url, 'POST', '/sync/locks/dash-deep/acquire', { lease: 300 });
	await tab.goto(`${url}/#/objects/locks/dash-deep`);
	const row = tab.locator(`#holders tr[data-owner="${held.owner}"]`);
	await row.waitFor();
	const shown = await Promise.all(['owner', 'fence', 'abandoned', 'count'].map((c) => textOf(row.locator(`td[data-col="${c}"]`))));
	const expires = await row.locator('td[data-col="expires"] time').getAttribute('datetime');
	const locked = await textOf(tab.locator('[data-field="locked"]'));
	await screenshot(tab, 'object');
	await call(url, 'POST', '/sync/locks/dash-deep/release', { owner: held.owner });
	await tab.locator('#no-holders').waitFor({ timeout: 15000 });
	await tab.goto(`${url}/#/objects/namespaces/dash-ns`);
	const key = tab.locator('#ns-keys tr[data-key="answer"]');
	await key.waitFor();
	const before = [await textOf(key.locator('[data-col="value"]')), await textOf(key.locator('[data-col="version"]'))];
	await call(url, 'PUT', '/namespaces/dash-ns/keys/answer', { n: 43 });
	await key.locator('[data-col="version"]').filter({ hasText: /^2$/ }).waitFor({ timeout: 15000 });
	const after = await textOf(key.locator('[data-col="value"]'));
	const nsVersion = await textOf(tab.locator('[data-field="version"]'));
	result('objects_deep_link_shows_holders_and_namespace_keys_live',
		JSON.stringify(shown) === JSON.stringify([held.owner, String(held.fence), 'no', '1']) && expires === held.expires_at &&
		locked === 'yes' && JSON.stringify(before) === JSON.stringify(['42', '1']) && after === '{"n":43}' && nsVersion === '2',
		`holder ${JSON.stringify(shown)} expires ${expires} locked ${locked}, key before ${JSON.stringify(before)} after ${after} ns version ${nsVersion}`);
}

async function casePools(tab, url) {
	const pool = await call(url, 'POST', '/pools', { target: 'exit', processes: 1, name: 'dash-pool' });
	const job = await call(url, 'POST', `/pools/${pool.id}/map?wait=60`, { items: [0, 4, 0], chunksize: 1 });
	const now = await call(url, 'GET', `/pools/${pool.id}`);
	await tab.goto(`${url}/#/pools`);
	const row = tab.locator(`#pool-list tr[data-id="${pool.id}"]`);
	await row.waitFor();
	const cols = await Promise.all(['name', 'target', 'state', 'processes', 'queued', 'running', 'done', 'failed']
		.map((c) => textOf(row.locator(`td[data-col="${c}"]`))));
	const workers = await row.locator('td[data-col="workers"] a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
	const rows = await tab.locator('#pool-list tr[data-id]').count();
	result('pools_view_lists_the_pool_with_workers_and_task_counts',
		rows === 1 && JSON.stringify(cols) === JSON.stringify(['dash-pool', 'exit', 'running', '1', '0', '0', '3', '1']) &&
		JSON.stringify(workers) === JSON.stringify(now.workers.map((w) => `#/processes/${w}`)),
		`rows ${rows} cols ${JSON.stringify(cols)} workers ${JSON.stringify(workers)} api ${JSON.stringify(now)}`);
	await screenshot(tab, 'pools');
	await row.locator('td[data-col="name"] a').click();
	const first = tab.locator(`#jobs section[data-job="${job.job}"]`);
	await first.waitFor();
	const progress = await textOf(first.locator('[data-col="progress"]'));
	const failures = await first.locator('ol.failures li').count();
	const failure = first.locator('ol.failures li[data-index="1"]');
	const item = await textOf(failure.locator('[data-col="item"]'));
	const error = await textOf(failure.locator('[data-col="error"]'));
	const exitcode = await textOf(failure.locator('[data-col="exitcode"]'));
	const state = await textOf(first.locator('[data-col="state"]'));
	const want = job.results[1].error;
	result('pool_view_shows_the_jobs_progress_and_the_failed_item_with_its_error',
		progress === '3 of 3 done, 1 failed' && state === 'done' && failures === 1 && item === '{"code":4}' &&
		error === `${want.code}: ${want.message}` && exitcode === '(exit code 4)' && want.exitcode === 4,
		`progress ${progress} state ${state} failures ${failures} item ${item} error ${error} ${exitcode} api ${JSON.stringify(want)}`);
	await tab.evaluate(() => { window.notReloaded = true; });
	const second = await call(url, 'POST', `/pools/${pool.id}/map?wait=60`, { items: [5] });
	const next = tab.locator(`#jobs section[data-job="${second.job}"]`);
	await next.locator('ol.failures li[data-index="0"]').waitFor({ timeout: 15000 });
	const order = await tab.locator('#jobs section[data-job]').evaluateAll((s) => s.map((x) => x.dataset.job));
	const counts = await textOf(tab.locator('[data-field="tasks"]'));
	const same = await tab.evaluate(() => window.notReloaded === true);
	result('pool_view_shows_a_new_job_live',
		JSON.stringify(order) === JSON.stringify([second.job, job.job]) && counts === '0 queued, 0 running, 4 done, 2 failed' && same,
		`jobs ${JSON.stringify(order)} tasks ${counts} same page ${same}`);
	await screenshot(tab, 'pool');
}

async function caseAccessible(tab, url) {
	const unlabelled = [];
	for (const view of ['#/objects', '#/objects/locks/dash-lock', '#/pools']) {
		await tab.goto(`${url}/${view}`);
		await tab.locator('main h1').waitFor();
		await tab.locator('main table, main dl.kv dd').first().waitFor();
		unlabelled.push(...await tab.evaluate((v) => [...document.querySelectorAll('input, select, textarea, button')]
			.filter((e) => !e.closest('dialog') && e.offsetParent !== null)
			.filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.textContent || '').trim())
			.map((e) => `${v} ${e.tagName.toLowerCase()}#${e.id}`), view));
	}
	await tab.goto(`${url}/#/objects`);
	await tab.selectOption('#o-kind', 'queues');
	await tab.waitForURL(/#\/objects\?kind=queues$/);
	await cell(tab, 'queues', 'dash-queue', 'size').waitFor();
	const sections = await tab.locator('main section').count();
	await tab.setViewportSize({ width: 390, height: 800 });
	const overflow = [];
	for (const view of ['#/objects', '#/pools']) {
		await tab.goto(`${url}/${view}`);
		await tab.locator('main table').first().waitFor();
		overflow.push(await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth));
		if (view === '#/objects') await screenshot(tab, 'objects-phone');
	}
	await tab.setViewportSize({ width: 1280, height: 800 });
	result('objects_and_pools_views_are_labelled_filterable_and_fit_a_phone',
		unlabelled.length === 0 && sections === 1 && overflow.every((x) => x <= 0),
		`unlabelled ${unlabelled.join(', ')}; sections for kind=queues ${sections}; overflow ${JSON.stringify(overflow)}`);
}

// A read token's session: the same objects, their holders included.
async function caseReadToken(browser) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spawnd-obj-tokens.'));
	const admin = 'admin-token-objects-0123456789', read = 'read-token-objects-0123456789';
	fs.writeFileSync(path.join(dir, 'tokens'), `admin ${admin}\nread ${read}\n`, { mode: 0o600 });
	const s = await startSpawnd(['--tokens-file', path.join(dir, 'tokens')]);
	const tab = await browser.newPage({ viewport: { width: 1280, height: 800 } });
	try {
		const auth = { authorization: `Bearer ${admin}` };
		await call(s.url, 'PUT', '/sync/locks/guarded-lock', {}, auth);
		const held = await call(s.url, 'POST', '/sync/locks/guarded-lock/acquire', { lease: 300 }, auth);
		await tab.goto(`${s.url}/#/login`);
		await tab.fill('#login-token', read);
		await tab.click('#login-form button[type=submit]');
		await tab.locator('#who', { hasText: 'read session' }).waitFor();
		await tab.goto(`${s.url}/#/objects`);
		const holder = cell(tab, 'locks', 'guarded-lock', 'holders').locator('.holder');
		await holder.waitFor();
		const owner = await holder.getAttribute('data-owner');
		await tab.goto(`${s.url}/#/pools`);
		await tab.locator('#p-status', { hasText: '0 pool(s)' }).waitFor();
		result('objects_view_with_a_read_token_shows_the_same', owner === held.owner, `owner ${owner}, held ${JSON.stringify(held)}`);
	} finally {
		await tab.close();
		await stopSpawnd(s);
		fs.rmSync(dir, { recursive: true, force: true });
	}
}

async function main() {
	const s = await startSpawnd();
	let browser;
	try {
		browser = await launch();
		const tab = await browser.newPage({ viewport: { width: 1280, height: 800 } });
		const errors = [];
		tab.on('pageerror', (e) => errors.push(String(e)));
		tab.on('console', (m) => { if (/Content Security Policy|Uncaught/.test(m.text())) errors.push(m.text()); });
		const made = await makeObjects(s.url);
		await caseObjectsListed(tab, s.url, made);
		await caseObjectsLive(tab, s.url, made);
		await caseObjectDeepLinks(tab, s.url);
		await casePools(tab, s.url);
		await caseAccessible(tab, s.url);
		result('objects_views_run_under_the_csp_without_errors', errors.length === 0, errors.join(' | '));
		await caseReadToken(browser);
	} catch (e) {
		result('browser_objects', false, e.stack || String(e));
	} finally {
		if (browser) await browser.close();
		const why = await stopSpawnd(s);
		result('spawnd_stops_cleanly', !why, why);
	}
	process.exit(failed ? 1 : 0);
}

main();
