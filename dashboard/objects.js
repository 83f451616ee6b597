// spawnd's dashboard, second script: the views of shared objects and pools
// (loaded after app.js, whose helpers it uses: el, api, fmtTime, views...).
//
// Design: both views poll (every POLL_MS) the listings the API has (GET /sync/*,
// /queues, /namespaces, /pools, /pools/{id}/jobs) rather than a stream: an object
// changes without an event anywhere else, and a listing is small. A table is
// rebuilt only when its JSON changed, so a poll neither flickers nor takes the
// keyboard focus away from a link. The views only read (GET), so a read token's
// session sees the same page as an admin's.
'use strict';

const POLL_MS = 1500;

// Polls fn every POLL_MS, never two at once; returns the cleanup.
function poller(fn) {
	let busy = false, stopped = false;
	const tick = async () => {
		if (busy || stopped) return;
		busy = true;
		try { await fn(); } finally { busy = false; }
	};
	tick();
	const timer = setInterval(tick, POLL_MS);
	return () => { stopped = true; clearInterval(timer); };
}

// Puts build()'s nodes into box when data differs from what it shows now.
function showIfChanged(box, data, build) {
	const key = JSON.stringify(data);
	if (box.dataset.shown === key) return;
	box.dataset.shown = key;
	box.replaceChildren(...[build(data)].flat());
}

function yes(b) { return b ? 'yes' : 'no'; }

function timeEl(ts) { return ts ? el('time', { datetime: ts, text: fmtTime(ts) }) : '—'; }

function processLink(id) { return el('a', { href: `#/processes/${encodeURIComponent(id)}`, text: id }); }

// One holder: its owner (a worker's process page), fence, lease expiry, and whether
// it took over an abandoned grant.
function holderText(h) {
	return el('span', { class: 'holder', 'data-owner': h.owner },
		h.worker ? processLink(h.owner) : el('span', { class: 'mono', text: h.owner }),
		` fence ${h.fence}`, h.count > 1 ? ` ×${h.count}` : '',
		h.expires_at ? [' until ', timeEl(h.expires_at)] : ' (worker)',
		h.abandoned ? el('strong', { class: 'bad', text: ' abandoned' }) : '');
}

function holdersCell(o) { return o.holders.length ? o.holders.map(holderText) : 'none'; }

// The kinds, as a table: where each is listed, and its columns (header, value of an object).
const KINDS = [
	{ kind: 'locks', path: '/sync/locks', title: 'Locks', cols: [
		['locked', (o) => yes(o.locked)], ['holders', holdersCell], ['waiters', (o) => o.waiters],
		['fence', (o) => o.fence], ['reentrant', (o) => yes(o.reentrant)]] },
	{ kind: 'semaphores', path: '/sync/semaphores', title: 'Semaphores', cols: [
		['value', (o) => `${o.value} of ${o.initial}`], ['holders', holdersCell], ['waiters', (o) => o.waiters],
		['fence', (o) => o.fence], ['bounded', (o) => yes(o.bounded)]] },
	{ kind: 'conditions', path: '/sync/conditions', title: 'Conditions', cols: [
		['lock', (o) => o.lock ?? '(its own)'], ['locked', (o) => yes(o.locked)], ['holders', holdersCell],
		['waiters', (o) => o.waiters], ['fence', (o) => o.fence]] },
	{ kind: 'events', path: '/sync/events', title: 'Events', cols: [
		['set', (o) => yes(o.set)], ['waiters', (o) => o.waiters]] },
	{ kind: 'barriers', path: '/sync/barriers', title: 'Barriers', cols: [
		['parties', (o) => o.parties], ['waiting', (o) => o.waiting], ['broken', (o) => yes(o.broken)]] },
	{ kind: 'queues', path: '/queues', title: 'Queues', cols: [
		['size', (o) => o.size], ['unfinished', (o) => o.unfinished], ['in flight', (o) => o.in_flight],
		['getters', (o) => o.getters], ['putters', (o) => o.putters], ['joiners', (o) => o.joiners],
		['maxsize', (o) => (o.maxsize ? o.maxsize : '∞')]] },
	{ kind: 'namespaces', path: '/namespaces', title: 'Namespaces', cols: [
		['version', (o) => o.version], ['keys', (o) => Object.keys(o.values).join(', ') || 'none'],
		['waiters', (o) => o.waiters]] },
];

function kindOf(name) { return KINDS.find((k) => k.kind === name); }

function objectHref(k, name) { return `#/objects/${k.kind}/${encodeURIComponent(name)}`; }

function kindTable(k, list) {
	if (!list.length) return el('p', { class: 'count', text: `No ${k.title.toLowerCase()}.` });
	const slug = (h) => h.replace(/ /g, '_');
	return el('div', { class: 'tablewrap' }, el('table', { class: 'plain', 'aria-label': k.title },
		el('tr', {}, el('th', { text: 'name' }), k.cols.map(([h]) => el('th', { text: h }))),
		list.map((o) => el('tr', { 'data-name': o.name },
			el('td', { 'data-col': 'name' }, el('a', { href: objectHref(k, o.name), text: o.name })),
			k.cols.map(([h, fn]) => el('td', { 'data-col': slug(h) }, fn(o)))))));
}

// #/objects[?kind=KIND]: every object of every kind (or of one).
function objectsView(main, params) {
	const only = kindOf(params.get('kind') || '');
	const sel = el('select', { id: 'o-kind', name: 'kind' }, el('option', { value: '', text: 'all kinds' }),
		KINDS.map((k) => el('option', { value: k.kind, text: k.title, selected: k === only })));
	const status = el('p', { class: 'count', id: 'o-status', 'aria-live': 'polite' });
	main.append(el('h1', { text: 'Shared objects' }),
		el('div', { class: 'filters' }, el('label', { for: 'o-kind' }, 'Kind', sel)), status);
	const boxes = new Map();
	for (const k of only ? [only] : KINDS) {
		const box = el('div', { id: `kind-${k.kind}` });
		boxes.set(k, box);
		main.append(el('section', { 'aria-labelledby': `h-${k.kind}` }, el('h2', { id: `h-${k.kind}`, text: k.title }), box));
	}
	sel.addEventListener('change', () => go(sel.value ? `#/objects?kind=${sel.value}` : '#/objects'));
	return poller(async () => {
		const answers = await Promise.all([...boxes.keys()].map((k) => api('GET', k.path)));
		let total = 0, bad = null;
		[...boxes].forEach(([k, box], i) => {
			const r = answers[i];
			if (r.status !== 200) { bad = errorText(r); return; }
			const list = r.json[k.kind];
			total += list.length;
			showIfChanged(box, list, (l) => kindTable(k, l));
		});
		status.textContent = bad ? `Could not list: ${bad}` : `${total} object(s), kept live`;
	});
}

function kvList(rows) {
	return rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { 'data-field': k }, v)]);
}

// A namespace's keys with their values and versions (a GET per key, the first 50).
async function namespaceKeys(name, values) {
	const keys = Object.keys(values).slice(0, 50);
	const answers = await Promise.all(keys.map((key) =>
		api('GET', `/namespaces/${encodeURIComponent(name)}/keys/${encodeURIComponent(key)}`)));
	return keys.map((key, i) => ({ key, value: values[key], version: answers[i].status === 200 ? answers[i].json.version : null }));
}

function keysTable(rows) {
	if (!rows.length) return el('p', { class: 'count', text: 'No keys.' });
	return el('div', { class: 'tablewrap' }, el('table', { class: 'plain', id: 'ns-keys', 'aria-label': 'Keys' },
		el('tr', {}, el('th', { text: 'key' }), el('th', { text: 'value' }), el('th', { text: 'version' })),
		rows.map((r) => el('tr', { 'data-key': r.key }, el('td', { 'data-col': 'key', text: r.key }),
			el('td', { 'data-col': 'value', class: 'mono', text: JSON.stringify(r.value) }),
			el('td', { 'data-col': 'version', text: r.version ?? '?' })))));
}

function holdersTable(holders) {
	if (!holders.length) return el('p', { class: 'count', id: 'no-holders', text: 'Nobody holds it.' });
	return el('div', { class: 'tablewrap' }, el('table', { class: 'plain', id: 'holders', 'aria-label': 'Holders' },
		el('tr', {}, ['owner', 'fence', 'lease expires', 'abandoned', 'count'].map((h) => el('th', { text: h }))),
		holders.map((h) => el('tr', { 'data-owner': h.owner },
			el('td', { 'data-col': 'owner' }, h.worker ? processLink(h.owner) : h.owner),
			el('td', { 'data-col': 'fence', text: h.fence }),
			el('td', { 'data-col': 'expires' }, h.expires_at ? timeEl(h.expires_at) : 'when the worker ends'),
			el('td', { 'data-col': 'abandoned', text: yes(h.abandoned) }),
			el('td', { 'data-col': 'count', text: h.count })))));
}

// #/objects/KIND/NAME: one object, its holders or keys.
function objectView(main, kindName, name) {
	const k = kindOf(kindName);
	if (!k) { go('#/objects'); return null; }
	const details = el('dl', { class: 'kv', id: 'object' });
	const extra = el('div', { id: 'object-extra' });
	const status = el('p', { class: 'count', id: 'o-status', 'aria-live': 'polite' });
	const held = k.cols.some(([h]) => h === 'holders');
	main.append(el('p', {}, el('a', { href: `#/objects?kind=${k.kind}`, text: `← all ${k.title.toLowerCase()}` })),
		el('h1', { text: `${k.title.replace(/s$/, '')} ${name}` }), status, details,
		held || k.kind === 'namespaces' ? el('h2', { text: held ? 'Holders' : 'Keys' }) : null, extra);
	return poller(async () => {
		const r = await api('GET', `${k.path}/${encodeURIComponent(name)}`);
		if (r.status !== 200) { status.textContent = r.status === 404 ? 'No such object (deleted?).' : errorText(r); return; }
		status.textContent = '';
		const o = r.json;
		showIfChanged(details, o, () => kvList(k.cols.filter(([h]) => h !== 'holders')
			.map(([h, fn]) => [h, String(fn(o))])));
		if (k.kind === 'namespaces') showIfChanged(extra, await namespaceKeys(name, o.values), keysTable);
		else if (held) showIfChanged(extra, o.holders, holdersTable);
	});
}

views.objects = (main, parts, params) => (parts[1] ? objectView(main, parts[1], parts[2] || '') : objectsView(main, params));

// ---- pools ------------------------------------------------------------------

function tasksText(t) { return `${t.queued} queued, ${t.running} running, ${t.done} done, ${t.failed} failed`; }

function poolHref(id) { return `#/pools/${encodeURIComponent(id)}`; }

function poolsTable(pools) {
	if (!pools.length) return el('p', { class: 'count', text: 'No pools.' });
	return el('div', { class: 'tablewrap' }, el('table', { class: 'plain', id: 'pool-list', 'aria-label': 'Pools' },
		el('tr', {}, ['name', 'target', 'state', 'processes', 'workers', 'queued', 'running', 'done', 'failed'].map((h) => el('th', { text: h }))),
		pools.map((p) => el('tr', { 'data-id': p.id },
			el('td', { 'data-col': 'name' }, el('a', { href: poolHref(p.id), text: p.name })),
			el('td', { 'data-col': 'target', text: p.target }),
			el('td', { 'data-col': 'state', class: p.error ? 'bad' : null, text: p.error ? `${p.state}: ${p.error.error.message}` : p.state }),
			el('td', { 'data-col': 'processes', text: p.processes }),
			el('td', { 'data-col': 'workers' }, p.workers.length ? p.workers.flatMap((w, i) => [i ? ' ' : '', processLink(w)]) : 'none'),
			['queued', 'running', 'done', 'failed'].map((c) => el('td', { 'data-col': c, text: p.tasks[c] }))))));
}

// #/pools: every pool.
function poolsView(main) {
	const box = el('div', { id: 'pools-box' });
	const status = el('p', { class: 'count', id: 'p-status', 'aria-live': 'polite' });
	main.append(el('h1', { text: 'Pools' }), status, box);
	return poller(async () => {
		const r = await api('GET', '/pools');
		if (r.status !== 200) { status.textContent = errorText(r); return; }
		status.textContent = `${r.json.pools.length} pool(s)`;
		showIfChanged(box, r.json.pools, poolsTable);
	});
}

function failuresList(job) {
	if (!job.failures.length) return null;
	const more = job.failed > job.failures.length ? el('li', { text: `… and ${job.failed - job.failures.length} more` }) : null;
	return el('ol', { class: 'failures', 'aria-label': `Failed items of job ${job.job}` },
		job.failures.map((f) => el('li', { 'data-index': f.index },
			el('strong', { text: `item ${f.index}` }), ' ', el('span', { class: 'mono', 'data-col': 'item', text: JSON.stringify(f.item) }),
			': ', el('span', { class: 'bad', 'data-col': 'error', text: `${f.error.code}: ${f.error.message}` }),
			f.error.exitcode !== null ? el('span', { 'data-col': 'exitcode', text: ` (exit code ${f.error.exitcode})` }) : '')), more);
}

function jobsList(jobs) {
	if (!jobs.length) return el('p', { class: 'count', text: 'No jobs yet.' });
	return jobs.map((j) => el('section', { class: 'job', 'data-job': j.job, 'aria-label': `Job ${j.job}` },
		el('h3', {}, `Job ${j.job} `, el('span', { class: `state state-${j.state === 'done' ? 'exited' : j.state}`, 'data-col': 'state', text: j.state })),
		el('label', { class: 'progress' }, el('progress', { max: String(j.total || 1), value: String(j.done) }),
			el('span', { 'data-col': 'progress', text: `${j.done} of ${j.total} done, ${j.failed} failed` })),
		failuresList(j)));
}

// #/pools/ID: a pool, its workers and its jobs with their failed items.
function poolView(main, id) {
	const details = el('dl', { class: 'kv', id: 'pool' });
	const jobs = el('div', { id: 'jobs' });
	const status = el('p', { class: 'count', id: 'p-status', 'aria-live': 'polite' });
	const title = el('h1', { text: `Pool ${id}` });
	main.append(el('p', {}, el('a', { href: '#/pools', text: '← all pools' })), title, status, details,
		el('h2', { text: 'Jobs (newest first)' }), jobs);
	const path = `/pools/${encodeURIComponent(id)}`;
	return poller(async () => {
		const [p, j] = await Promise.all([api('GET', path), api('GET', `${path}/jobs`)]);
		if (p.status !== 200) { status.textContent = p.status === 404 ? 'No such pool (deleted?).' : errorText(p); return; }
		status.textContent = '';
		const o = p.json;
		title.textContent = `Pool ${o.name} (${o.target})`;
		showIfChanged(details, o, () => kvList([['id', o.id], ['state', o.state], ['processes', String(o.processes)],
			['workers', o.workers.length ? o.workers.flatMap((w, i) => [i ? ' ' : '', processLink(w)]) : 'none'],
			['tasks', tasksText(o.tasks)], ['maxtasksperchild', String(o.maxtasksperchild ?? '—')],
			['initializer', o.initializer ?? '—'], ['error', o.error ? o.error.error.message : '—']]));
		if (j.status === 200) showIfChanged(jobs, j.json.jobs, jobsList);
	});
}

views.pools = (main, parts) => (parts[1] ? poolView(main, parts[1]) : poolsView(main));
