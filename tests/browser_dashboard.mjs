#!/usr/bin/env node
// The dashboard (issue 16) clicked through in a real browser (headless Debian
// Chromium driven by playwright-core) against the real server:
//   - a process started elsewhere appears in the table and ends there, no reload;
//   - the state filter and the text search narrow the table, and the URL says so;
//   - the start form refuses a bad argument with the server's message at the field,
//     then starts the process and lands on its page;
//   - the output follows across a dropped connection (a proxy cuts the page's first
//     output stream) with no line lost or repeated;
//   - the server-side search finds a line a process wrote and opens it at its offset;
//   - a destructive action (kill) needs a confirmation: cancelled, nothing happens;
//   - the process page shows the timeline, signals sent included;
//   - login with a token (a cookie the page cannot read, nothing in localStorage),
//     logout, and a read token's view without action buttons;
//   - 10,000 records list without stalling: time to first render and to scroll to
//     the end are measured and printed (bounds are generous, never tight);
//   - screenshots of the main views go to $SPAWND_SCREENSHOTS_DIR (default build/screenshots,
//     so a test run leaves the tree clean; `make screenshots` writes the committed ones in docs/);
//     SPAWND_SCREENSHOTS=0 skips them.
// Prints PASS/FAIL lines like the C tests (tests/check.h).
import { spawn } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const bin = process.env.SPAWND_BIN || 'build/spawnd';
const browserPath = process.env.SPAWND_CHROMIUM || '/usr/bin/chromium';
const shots = process.env.SPAWND_SCREENSHOTS !== '0';
const shotsDir = process.env.SPAWND_SCREENSHOTS_DIR || 'build/screenshots';
let failed = 0;

function result(name, ok, why) {
	if (ok) console.log(`PASS ${name}`);
	else { failed++; console.log(`FAIL ${name}: ${why}`); }
}

export async function startSpawnd(extra = []) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spawnd-dash.'));
	const child = spawn(bin, ['--listen', '127.0.0.1:0', '--state-dir', path.join(dir, 'state'),
		'--log-level', 'warn', '--heartbeat', '1', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
	const url = await new Promise((resolve, reject) => {
		let buf = '';
		const timer = setTimeout(() => reject(new Error('spawnd did not start')), 10000);
		child.stdout.on('data', (d) => {
			buf += d;
			const m = buf.match(/spawnd listening on (http:\/\/\S+)/);
			if (m) { clearTimeout(timer); resolve(m[1]); }
		});
		child.on('exit', (code) => reject(new Error(`spawnd exited ${code}`)));
	});
	return { child, url, dir };
}

export async function stopSpawnd(s) {
	const exited = new Promise((resolve) => s.child.on('exit', (code, sig) => resolve({ code, sig })));
	s.child.kill('SIGTERM');
	const { code, sig } = await exited;
	fs.rmSync(s.dir, { recursive: true, force: true });
	return code === 0 ? null : `exit code ${code} signal ${sig}`;
}

export async function post(url, p, body, headers = {}) {
	const r = await fetch(url + p, { method: 'POST', headers: { 'content-type': 'application/json', ...headers },
		body: JSON.stringify(body) });
	return { status: r.status, json: await r.json().catch(() => null) };
}

export function launch() {
	return chromium.launch({ executablePath: browserPath, args: ['--no-sandbox', '--disable-gpu', '--disable-quic',
		'--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
}

export async function screenshot(tab, name) {
	if (!shots) return;
	fs.mkdirSync(shotsDir, { recursive: true });
	await tab.screenshot({ path: `${shotsDir}/dashboard-${name}.png` });
}

// Forwards connections to spawnd; the first output stream (follow=true) is cut
// right after its `cutAfter`-th output event, wherever the chunk boundaries are.
function startProxy(target, cutAfter, log) {
	const { hostname, port } = new URL(target);
	let streams = 0;
	return net.createServer((client) => {
		const upstream = net.connect(Number(port), hostname);
		let request = '', isStream = false, n = 0, cut = false, seen = '';
		client.on('data', (d) => {
			request += d;
			if (!isStream && /\/output\?follow=true/.test(request) && request.includes('\r\n\r\n')) {
				isStream = true;
				n = ++streams;
				const last = request.match(/last-event-id: *([^\r\n]*)/i);
				log.push({ stream: n, lastEventId: last ? last[1] : null });
			}
			upstream.write(d);
		});
		upstream.on('data', (d) => {
			if (cut) return;
			if (!(isStream && n === 1)) { client.write(d); return; }
			const from = seen.length;
			seen += d.toString('latin1');
			let at = 0, k = 0;
			for (; k < cutAfter; k++) {
				const o = seen.indexOf('event: output', at);
				const end = o < 0 ? -1 : seen.indexOf('\n\n', o);
				if (end < 0) break;
				at = end + 2;
			}
			if (k < cutAfter) { client.write(d); return; }
			client.write(Buffer.from(seen.slice(from, at), 'latin1'));
			cut = true;
			client.destroy();
			upstream.destroy();
		});
		const end = () => { client.destroy(); upstream.destroy(); };
		client.on('error', end); upstream.on('error', end);
		client.on('close', end); upstream.on('close', end);
	});
}

function listen(server) {
	return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

async function textOf(tab, sel) { return (await tab.locator(sel).textContent()) || ''; }

// A process started by someone else appears, runs and ends in the open table.
async function caseLive(tab, url) {
	await tab.goto(`${url}/#/processes`);
	await tab.locator('#count').filter({ hasText: 'processes' }).waitFor();
	const r = await post(url, '/processes', { target: 'ticker', args: { count: 3, interval: 0.4 }, name: 'live-one' });
	const row = tab.locator(`[data-id="${r.json.id}"]`);
	await row.waitFor({ timeout: 10000 });
	const appeared = await row.locator('.c-state').textContent();
	await row.locator('.c-state', { hasText: 'exited' }).waitFor({ timeout: 20000 });
	const exit = await row.locator('.c-exit').textContent();
	result('dashboard_live_process_appears_and_ends_without_reload',
		(appeared === 'running' || appeared === 'queued' || appeared === 'exited') && exit === '0',
		`first state ${appeared}, exit ${exit}`);
	return r.json.id;
}

async function caseFilters(tab, url) {
	await post(url, '/processes?wait=5', { target: 'exit', args: { code: 3 }, name: 'needle-three' });
	await tab.goto(`${url}/#/processes`);
	await tab.locator('[data-id]').first().waitFor();
	await tab.fill('#f-q', 'needle-three');
	await tab.locator('.row', { hasText: 'needle-three' }).waitFor();
	const rows = await tab.locator('.row').count();
	const hash1 = new URL(tab.url()).hash;
	await tab.selectOption('#f-state', 'running');
	await tab.locator('#count', { hasText: /^0 of/ }).waitFor();
	const hash2 = new URL(tab.url()).hash;
	// A deep link restores the filter.
	await tab.goto(`${url}/#/processes?q=needle-three&state=exited`);
	await tab.locator('.row', { hasText: 'needle-three' }).waitFor();
	const exit = await tab.locator('.row', { hasText: 'needle-three' }).locator('.c-exit').textContent();
	const sel = await tab.inputValue('#f-state');
	result('dashboard_filters_and_search_with_deep_links',
		rows === 1 && hash1 === '#/processes?q=needle-three' && hash2 === '#/processes?state=running&q=needle-three' &&
		exit === '3' && sel === 'exited', `rows ${rows} hash1 ${hash1} hash2 ${hash2} exit ${exit} sel ${sel}`);
}

async function caseStartForm(tab, url) {
	await tab.goto(`${url}/#/start/exit`);
	await tab.locator('#arg-code').waitFor();
	await screenshot(tab, 'start');
	await tab.fill('#arg-code', 'three');
	await tab.click('#start-submit');
	await tab.locator('#err-code').filter({ hasText: /./ }).waitFor();
	const msg = await textOf(tab, '#err-code');
	const invalid = await tab.getAttribute('#arg-code', 'aria-invalid');
	const server = await post(url, '/processes', { target: 'exit', args: { code: 'three' } });
	const want = server.json.error.details.find((d) => d.field === 'args.code').message;
	const stayed = new URL(tab.url()).hash.startsWith('#/start');
	result('dashboard_start_form_shows_the_servers_message_at_the_field',
		msg === want && invalid === 'true' && stayed, `shown ${JSON.stringify(msg)} server ${JSON.stringify(want)} invalid ${invalid}`);
	await tab.fill('#arg-code', '4');
	await tab.fill('#start-wait', '5');
	await tab.click('#start-submit');
	await tab.waitForURL(/#\/processes\/[A-Za-z0-9_-]+$/);
	await tab.locator('[data-field="exit code"]', { hasText: '4' }).waitFor();
	result('dashboard_start_form_starts_and_opens_the_process', true, '');
}

// The page's own output stream goes through a proxy that cuts it after 3 events.
async function caseFollow(tab, url) {
	const log = [];
	const proxy = startProxy(url, 3, log);
	const port = await listen(proxy);
	try {
		const r = await post(url, '/processes', { target: 'ticker', args: { count: 12, interval: 0.15 } });
		const id = r.json.id;
		await tab.goto(`http://127.0.0.1:${port}/#/processes/${id}?stream=stdout`);
		await tab.locator('#out-status', { hasText: 'ended' }).waitFor({ timeout: 30000 });
		const shown = await textOf(tab, '#output');
		const raw = await fetch(`${url}/processes/${id}/output?stream=stdout`,
			{ headers: { accept: 'application/octet-stream' } }).then((x) => x.text());
		const resumed = log.length >= 2 && /^\d+-\d+$/.test(log[1].lastEventId || '');
		result('dashboard_output_follows_across_a_dropped_connection',
			resumed && shown === raw && raw.split('\n').length === 13,
			`proxy ${JSON.stringify(log)} shown ${JSON.stringify(shown)} raw ${JSON.stringify(raw)}`);
		await screenshot(tab, 'process');
	} finally {
		proxy.close();
	}
}

// A line a process wrote, found by the server's search, opened at its offset.
async function caseSearch(tab, url) {
	await post(url, '/processes?wait=5', { target: 'echo', args: ['the quick searchable fox'] });
	await tab.goto(`${url}/#/search`);
	await tab.fill('#s-q', 'searchable f');
	await tab.click('#search-form button[type=submit]');
	const link = tab.locator('#results a').first();
	await link.waitFor({ timeout: 10000 });
	const count = await tab.locator('#results li').count();
	const hash = new URL(tab.url()).hash;
	await screenshot(tab, 'search');
	await link.click();
	await tab.locator('#hit').waitFor({ timeout: 10000 });
	const hit = await textOf(tab, '#hit');
	result('dashboard_search_finds_a_line_and_opens_it_at_its_offset',
		count === 1 && hit === 'the quick searchable fox' && hash === '#/search?q=searchable+f',
		`results ${count}, hash ${hash}, highlighted ${JSON.stringify(hit)}`);
}

async function caseKillNeedsConfirmation(tab, url) {
	const r = await post(url, '/processes', { target: 'sleep', args: [60], name: 'to-kill' });
	const id = r.json.id;
	await tab.goto(`${url}/#/processes/${id}`);
	await tab.locator('#act-kill').click();
	await tab.locator('#confirm[open]').waitFor();
	await tab.locator('#confirm-cancel').click();
	await new Promise((res) => setTimeout(res, 500));
	const after = await fetch(`${url}/processes/${id}`).then((x) => x.json());
	await tab.locator('#act-kill').click();
	await tab.locator('#confirm[open]').waitFor();
	await tab.locator('#confirm-ok').click();
	await tab.locator('[data-field="exit code"]', { hasText: '-9 (SIGKILL)' }).waitFor({ timeout: 15000 });
	result('dashboard_kill_needs_a_confirmation', after.alive === true, `alive after cancel: ${after.alive}`);
	await tab.locator('#timeline li[data-event="exited"]').waitFor({ timeout: 10000 });
	const timeline = (await tab.locator('#timeline li').allTextContents()).join(' | ');
	result('dashboard_process_page_shows_the_timeline_with_the_signal_sent',
		/created/.test(timeline) && /signal signal=SIGKILL reason=kill/.test(timeline) && /exited exitcode=-9/.test(timeline), timeline);
	return id;
}

// Health, load and the per-minute charts (from the records), the targets, and the
// links to the pools and shared objects views (tests/browser_objects.mjs tests those).
async function caseServerView(tab, url) {
	await tab.goto(`${url}/#/server`);
	await tab.locator('[data-field="running"]').waitFor();
	await tab.locator('#targets td', { hasText: 'ticker' }).first().waitFor();
	await tab.waitForFunction(() => /Started: .*[1-9]/.test(document.querySelector('#charts svg')?.getAttribute('aria-label') || ''));
	const running = await textOf(tab, '[data-field="running"]');
	const charts = await tab.locator('#charts figure').count();
	const places = await tab.locator('#pools, #shared').count();
	result('dashboard_server_view_shows_health_charts_and_targets',
		/^\d+$/.test(running) && charts === 2 && places === 2, `running ${running}, charts ${charts}, places ${places}`);
	await screenshot(tab, 'server');
}

// Every control has a name a screen reader says, the table is reachable by keyboard,
// and the page reads in dark mode and at a phone's width.
async function caseAccessible(tab, url) {
	const unlabelled = [];
	for (const view of ['#/processes', '#/start/ticker', '#/search', '#/login']) {
		await tab.goto(`${url}/${view}`);
		await tab.locator('main h1').waitFor();
		await tab.locator('main input, main select, main textarea').first().waitFor();
		unlabelled.push(...await tab.evaluate((v) => [...document.querySelectorAll('input, select, textarea, button')]
			.filter((e) => !e.closest('dialog') && e.offsetParent !== null)
			.filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.textContent || '').trim())
			.map((e) => `${v} ${e.tagName.toLowerCase()}#${e.id}`), view));
	}
	await tab.goto(`${url}/#/processes`);
	await tab.locator('.row').first().waitFor();
	await tab.keyboard.press('/');
	const searchFocused = await tab.evaluate(() => document.activeElement.id);
	await tab.locator('.row').first().focus();
	await tab.keyboard.press('Enter');
	await tab.waitForURL(/#\/processes\/[A-Za-z0-9_-]+$/);
	result('dashboard_controls_are_labelled_and_keyboard_usable', unlabelled.length === 0 && searchFocused === 'f-q',
		`unlabelled: ${unlabelled.join(', ')}; "/" focused ${searchFocused}`);
	await tab.emulateMedia({ colorScheme: 'dark' });
	await tab.goto(`${url}/#/processes`);
	await tab.locator('.row').first().waitFor();
	const bg = await tab.evaluate(() => getComputedStyle(document.body).backgroundColor);
	await screenshot(tab, 'dark');
	await tab.setViewportSize({ width: 390, height: 800 });
	await tab.locator('.row').first().waitFor();
	const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
	await screenshot(tab, 'phone');
	result('dashboard_dark_mode_and_phone_width', bg === 'rgb(17, 20, 24)' && overflow <= 0,
		`background ${bg}, horizontal overflow ${overflow}px`);
	await tab.emulateMedia({ colorScheme: 'light' });
	await tab.setViewportSize({ width: 1280, height: 800 });
}

// With tokens: the login page, a wrong token refused, the admin session (cookie
// not readable by the page, nothing in localStorage), logout, and a read token's
// view without action buttons or the start form.
async function caseLogin(browser) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spawnd-dash-tokens.'));
	const admin = 'admin-token-0123456789abcdef', read = 'read-token-0123456789abcdef';
	fs.writeFileSync(path.join(dir, 'tokens'), `admin ${admin}\nread ${read}\n`, { mode: 0o600 });
	const s = await startSpawnd(['--tokens-file', path.join(dir, 'tokens')]);
	const tab = await browser.newPage({ viewport: { width: 1280, height: 800 } });
	try {
		const id = (await post(s.url, '/processes', { target: 'sleep', args: [60], name: 'guarded' },
			{ authorization: `Bearer ${admin}` })).json.id;
		await tab.goto(`${s.url}/#/processes/${id}`);
		await tab.waitForURL(/#\/login$/);
		await screenshot(tab, 'login');
		await tab.fill('#login-token', 'not-the-right-token-at-all');
		await tab.click('#login-form button[type=submit]');
		await tab.locator('#login-error', { hasText: 'not valid' }).waitFor();
		await tab.fill('#login-token', admin);
		await tab.click('#login-form button[type=submit]');
		await tab.locator('.row', { hasText: 'guarded' }).waitFor();
		const who = await textOf(tab, '#who');
		const stored = await tab.evaluate(() => ({ cookie: document.cookie, local: localStorage.length, session: sessionStorage.length }));
		const startShown = await tab.locator('nav a[data-nav=start]').isVisible();
		await tab.goto(`${s.url}/#/processes/${id}`);
		await tab.locator('#act-kill').waitFor();
		result('dashboard_login_makes_an_admin_session_the_page_cannot_read',
			who === 'admin session' && stored.cookie === '' && stored.local === 0 && stored.session === 0 && startShown,
			`who ${who}, storage ${JSON.stringify(stored)}, start link ${startShown}`);
		await tab.click('#logout');
		await tab.waitForURL(/#\/login$/);
		const after = await tab.evaluate(async () => (await fetch('/processes')).status);
		result('dashboard_logout_ends_the_session', after === 401, `GET /processes after logout: ${after}`);
		await tab.fill('#login-token', read);
		await tab.click('#login-form button[type=submit]');
		await tab.locator('.row', { hasText: 'guarded' }).waitFor();
		await tab.goto(`${s.url}/#/processes/${id}`);
		await tab.locator('[data-field="state"]', { hasText: 'running' }).waitFor();
		await tab.locator('#out-status', { hasText: 'following' }).waitFor();
		const buttons = await tab.locator('#actions button').count();
		const startLink = await tab.locator('nav a[data-nav=start]').isVisible();
		await tab.goto(`${s.url}/#/start/worker`);
		await tab.waitForURL(/#\/processes$/);
		const form = await tab.locator('#start-form').count();
		const whoRead = await textOf(tab, '#who');
		result('dashboard_read_token_gets_a_view_without_actions',
			buttons === 0 && !startLink && form === 0 && whoRead === 'read session',
			`buttons ${buttons}, start link ${startLink}, start form ${form}, who ${whoRead}`);
	} finally {
		await tab.close();
		await stopSpawnd(s);
		fs.rmSync(dir, { recursive: true, force: true });
	}
}

// 10,000 records: made through the API (short exits), then listed.
async function caseTenThousand(browser, url) {
	const total = Number(process.env.SPAWND_DASH_RECORDS || 10000), batch = 50;
	let made = 0;
	const t0 = Date.now();
	while (made < total) {
		const n = Math.min(batch, total - made);
		const rs = await Promise.all(Array.from({ length: n }, (_, i) => post(url, '/processes', { target: 'exit', args: [0], name: `bulk-${made + i}` })));
		const bad = rs.find((x) => x.status !== 201 && x.status !== 429);
		if (bad) throw new Error(`bulk start: ${bad.status} ${JSON.stringify(bad.json)}`);
		made += rs.filter((x) => x.status === 201).length;
	}
	const makeS = (Date.now() - t0) / 1000;
	const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
	const start = Date.now();
	await tab.goto(`${url}/#/processes`);
	await tab.locator('.row').first().waitFor({ timeout: 60000 });
	const firstRender = Date.now() - start;
	await tab.waitForFunction((n) => Number((/of (\d+)/.exec(document.getElementById('count').textContent) || [])[1]) >= n,
		total, { timeout: 120000 });
	const allLoaded = Date.now() - start;
	const scrollStart = Date.now();
	await tab.evaluate(() => { const s = document.getElementById('rows'); s.scrollTop = s.scrollHeight; });
	await tab.locator('.row', { hasText: 'bulk-0' }).waitFor({ timeout: 30000 });
	const scrolled = Date.now() - scrollStart;
	// Stepping through the list a screen at a time: the longest frame of the walk.
	const walk = await tab.evaluate(async () => {
		const s = document.getElementById('rows');
		let worst = 0;
		for (let i = 0; i < 40; i++) {
			const t = performance.now();
			s.scrollTop = (s.scrollHeight * i) / 40;
			await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
			worst = Math.max(worst, performance.now() - t);
		}
		return { worst, domRows: document.querySelectorAll('.row').length };
	});
	console.log(`# ${total} records: made in ${makeS.toFixed(1)} s; first render ${firstRender} ms, all ${allLoaded} ms listed, ` +
		`scroll to the end ${scrolled} ms, worst frame of a 40-step walk ${walk.worst.toFixed(0)} ms, ${walk.domRows} rows in the DOM`);
	result('dashboard_lists_10000_records_without_stalling',
		firstRender < 30000 && scrolled < 10000 && walk.worst < 2000 && walk.domRows < 200,
		`first render ${firstRender} ms, scroll ${scrolled} ms, worst frame ${walk.worst} ms, DOM rows ${walk.domRows}`);
	await tab.close();
}

async function main() {
	const s = await startSpawnd();
	let browser;
	try {
		browser = await launch();
		const tab = await browser.newPage({ viewport: { width: 1280, height: 800 } });
		const errors = [];
		tab.on('pageerror', (e) => errors.push(String(e)));
		// Refused loads are expected (a 400 the form shows, a cut stream); a script error or
		// a CSP violation is not.
		tab.on('console', (m) => { if (/Content Security Policy|Uncaught/.test(m.text())) errors.push(m.text()); });
		await caseLive(tab, s.url);
		await caseFilters(tab, s.url);
		await caseStartForm(tab, s.url);
		await caseFollow(tab, s.url);
		await caseSearch(tab, s.url);
		await caseKillNeedsConfirmation(tab, s.url);
		await tab.goto(`${s.url}/#/processes`);
		await tab.locator('.row', { hasText: 'to-kill' }).waitFor();
		await screenshot(tab, 'processes');
		await caseServerView(tab, s.url);
		await caseAccessible(tab, s.url);
		result('dashboard_runs_under_its_csp_without_errors', errors.length === 0, errors.join(' | '));
		await caseLogin(browser);
		await caseTenThousand(browser, s.url);
	} catch (e) {
		result('browser_dashboard', false, e.stack || String(e));
	} finally {
		if (browser) await browser.close();
		const why = await stopSpawnd(s);
		result('spawnd_stops_cleanly', !why, why);
	}
	process.exit(failed ? 1 : 0);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1].endsWith('browser_dashboard.mjs')) main();
