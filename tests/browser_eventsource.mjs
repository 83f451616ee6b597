#!/usr/bin/env node
// A real browser follows a worker's output with EventSource, loses the
// connection in the middle, reconnects by itself with Last-Event-ID, and must
// end up with every line exactly once (issue 3: "a browser EventSource
// reconnects without losing or repeating a line"). Then the exit event: the
// page closes the stream, and a resume after the exit id gets 204, which
// stops an EventSource from reconnecting.
//
// Pieces: spawnd (SPAWND_BIN, CORS allowing the page's origin), a page server,
// and a TCP proxy between the browser and spawnd that cuts the first stream
// connection after a few events. Headless Debian Chromium driven by
// playwright-core. Prints PASS/FAIL lines like the C tests (tests/check.h).
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const bin = process.env.SPAWND_BIN || 'build/spawnd';
const fixtures = process.env.SPAWND_FIXTURES || 'build/tests/fixtures';
const browserPath = process.env.SPAWND_CHROMIUM || '/usr/bin/chromium';
let failed = 0;

function result(name, ok, why) {
	if (ok) console.log(`PASS ${name}`);
	else { failed++; console.log(`FAIL ${name}: ${why}`); }
}

function listen(server) {
	return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

async function startSpawnd(pageOrigin) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spawnd-browser.'));
	const ticker = path.resolve(fixtures, 'ticker');
	fs.writeFileSync(path.join(dir, 'targets.json'), JSON.stringify({ targets: [{
		name: 'clock_ticker', description: 'Prints tick lines.', program: ticker,
		argv: ['{count}', '{interval}'],
		args: [{ name: 'count', type: 'integer', required: true },
		       { name: 'interval', type: 'integer', required: true }],
	}] }));
	const child = spawn(bin, ['--listen', '127.0.0.1:0', '--state-dir', path.join(dir, 'state'),
		'--targets', path.join(dir, 'targets.json'), '--cors-origins', pageOrigin,
		'--log-level', 'warn', '--heartbeat', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
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

// Forwards connections to spawnd; the first one carrying an event stream is
// cut after `cutAfter` output events have passed through it.
function startProxy(target, cutAfter, log) {
	const { hostname, port } = new URL(target);
	let streams = 0;
	const server = net.createServer((client) => {
		const upstream = net.connect(Number(port), hostname);
		let request = '', isStream = false, cut = false, n = 0;
		client.on('data', (d) => {
			request += d;
			if (!isStream && request.includes('follow=true') && request.includes('\r\n\r\n')) {
				isStream = true;
				n = ++streams;
				const last = request.match(/last-event-id: *([^\r\n]*)/i);
				log.push({ stream: n, lastEventId: last ? last[1] : null });
			}
			upstream.write(d);
		});
		// The cut falls right after the cutAfter-th output event, or just before
		// the exit event when fewer came, wherever the chunk boundaries are: on
		// a loaded machine the browser may connect after the worker has ended,
		// and then its output comes as one event, in one read.
		let seen = '';
		upstream.on('data', (d) => {
			if (cut) return;
			if (!(isStream && n === 1)) { client.write(d); return; }
			const from = seen.length;
			seen += d.toString('latin1');
			let cutAt = -1;
			for (let k = 0, at = 0; k < cutAfter; k++) {
				const output = seen.indexOf('event: output', at), exit = seen.indexOf('event: exit', at);
				if (exit >= 0 && (output < 0 || exit < output)) { cutAt = k > 0 ? exit : -1; break; }
				const end = output < 0 ? -1 : seen.indexOf('\n\n', output);
				if (end < 0) break;
				at = end + 2;
				if (k === cutAfter - 1) cutAt = at;
			}
			if (cutAt < 0) { client.write(d); return; }
			client.write(Buffer.from(seen.slice(from, cutAt), 'latin1'));
			cut = true;
			client.destroy();
			upstream.destroy();
		});
		const end = () => { client.destroy(); upstream.destroy(); };
		client.on('error', end); upstream.on('error', end);
		client.on('close', end); upstream.on('close', end);
	});
	return server;
}

const page = `<!doctype html><meta charset="utf-8"><title>spawnd EventSource</title><pre id="out"></pre>
<script>
window.follow = (url) => new Promise((resolve) => {
  const got = [], ids = [];
  const es = new EventSource(url);
  es.addEventListener('output', (e) => { const d = JSON.parse(e.data); got.push(d); ids.push(e.lastEventId);
    document.getElementById('out').textContent += d.data; });
  es.addEventListener('exit', (e) => { es.close(); resolve({ got, ids, exit: JSON.parse(e.data), exitId: e.lastEventId }); });
  setTimeout(() => { es.close(); resolve({ got, ids, timeout: true }); }, 20000);
});
</script>`;

async function main() {
	const pageServer = createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end(page); });
	const pagePort = await listen(pageServer);
	const origin = `http://127.0.0.1:${pagePort}`;
	const spawnd = await startSpawnd(origin);
	const proxyLog = [];
	const proxy = startProxy(spawnd.url, 3, proxyLog);
	const proxyPort = await listen(proxy);
	let browser;
	try {
		browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox',
			'--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
			'--disable-component-update', '--disable-sync'] });
		const tab = await browser.newPage();
		await tab.goto(origin + '/');
		// 12 lines, one every 150 ms, started once the page is up: the cut after 3
		// usually comes while it still runs (and before its exit event if not).
		const created = await fetch(`${spawnd.url}/processes`, { method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ target: 'clock_ticker', args: [12, 150] }) }).then((r) => r.json());
		const id = created.id;
		const streamUrl = `http://127.0.0.1:${proxyPort}/processes/${id}/output?follow=true&stream=stdout`;
		const r = await tab.evaluate((u) => window.follow(u), streamUrl);
		const raw = await fetch(`${spawnd.url}/processes/${id}/output?stream=stdout`,
			{ headers: { accept: 'application/octet-stream' } }).then((x) => x.text());

		const text = r.got.map((d) => d.data).join('');
		let contiguous = true, at = 0;
		for (const d of r.got) { if (d.offset !== at) contiguous = false; at += Buffer.byteLength(d.data); }
		const reconnected = proxyLog.length >= 2 && proxyLog[1].lastEventId;
		result('browser_eventsource_reconnects_without_loss_or_repeat',
			!r.timeout && reconnected && contiguous && text === raw && raw.split('\n').length === 13,
			`timeout=${!!r.timeout} proxy=${JSON.stringify(proxyLog)} contiguous=${contiguous} ` +
			`got ${JSON.stringify(text)} raw ${JSON.stringify(raw)}`);
		result('browser_eventsource_sees_the_exit_event',
			r.exit && r.exit.event === 'exit' && r.exit.exitcode === 0 && /-exit$/.test(r.exitId || ''),
			`exit ${JSON.stringify(r.exit)} id ${r.exitId}`);
		// What the browser would get if it reconnected after the exit: 204, which stops it.
		const again = await fetch(`${spawnd.url}/processes/${id}/output?follow=true&stream=stdout`,
			{ headers: { accept: 'text/event-stream', 'last-event-id': r.exitId || '' } });
		result('resume_after_exit_answers_204', again.status === 204, `status ${again.status}`);
	} catch (e) {
		result('browser_eventsource', false, e.stack || String(e));
	} finally {
		if (browser) await browser.close();
		proxy.close();
		pageServer.close();
		const exited = new Promise((resolve) => spawnd.child.on('exit', (code, sig) => resolve({ code, sig })));
		spawnd.child.kill('SIGTERM');
		const { code, sig } = await exited;
		result('spawnd_stops_cleanly', code === 0, `exit code ${code} signal ${sig}`);
		fs.rmSync(spawnd.dir, { recursive: true, force: true });
	}
	process.exit(failed ? 1 : 0);
}

main();
