// spawnd's dashboard: plain JavaScript, no framework, nothing fetched from elsewhere.
//
// Design: the URL's hash is the state (#/processes?state=running, #/processes/ID,
// #/start/TARGET, #/search?q=..., #/server, #/login; objects.js adds #/objects and
// #/pools), so every view and filter is a deep link and the server serves one page.
// Each view is a function that builds its DOM into <main> and returns a cleanup
// (closing its EventSources and timers).
// Credentials: a session cookie set by POST /session (HttpOnly: this script never
// sees it, and nothing is kept in localStorage); writes carry X-Spawnd-CSRF so the
// server can tell them from a forged cross-site form.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const STATES = ['queued', 'running', 'exited', 'failed', 'lost'];
const ROW_HEIGHT = 32;
const session = { role: null, tokens: false, checked: false };

// ---- small helpers ----------------------------------------------------------

function el(tag, attrs = {}, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v === null || v === undefined || v === false) continue;
		if (k === 'text') e.textContent = v;
		else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
		else e.setAttribute(k, v === true ? '' : v);
	}
	for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
	return e;
}

function toast(text) {
	const t = $('#toast');
	t.textContent = text;
	clearTimeout(toast.timer);
	toast.timer = setTimeout(() => { t.textContent = ''; }, 6000);
}

async function api(method, path, body) {
	const headers = {};
	if (body !== undefined) headers['Content-Type'] = 'application/json';
	if (method !== 'GET') headers['X-Spawnd-CSRF'] = '1';
	const res = await fetch(path, { method, headers, credentials: 'same-origin',
		body: body === undefined ? undefined : JSON.stringify(body) });
	let json = null;
	if ((res.headers.get('content-type') || '').startsWith('application/json')) json = await res.json();
	if (res.status === 401 && path !== '/session') { session.role = null; go('#/login'); }
	return { status: res.status, json };
}

function errorText(r) {
	return (r.json && r.json.error && r.json.error.message) || `HTTP ${r.status}`;
}

function fmtTime(ts) {
	if (!ts) return '';
	const d = new Date(ts);
	return d.toLocaleString(undefined, { hour12: false });
}

function duration(p) {
	if (p.duration !== null && p.duration !== undefined) return fmtSeconds(p.duration);
	if (p.started_at && p.alive) return fmtSeconds((Date.now() - Date.parse(p.started_at)) / 1000);
	return '';
}

function fmtSeconds(s) {
	if (s < 1) return `${Math.round(s * 1000)} ms`;
	if (s < 120) return `${s.toFixed(1)} s`;
	if (s < 7200) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
	return `${(s / 3600).toFixed(1)} h`;
}

function exitText(p) {
	if (p.exitcode === null || p.exitcode === undefined) return '';
	return p.signal ? `${p.exitcode} (${p.signal})` : String(p.exitcode);
}

function parseHash() {
	const h = location.hash.replace(/^#\/?/, '');
	const [path, query] = h.split('?');
	return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || '') };
}

function go(hash) { if (location.hash !== hash) location.hash = hash; else route(); }

// Changes the URL to describe the view's state, without a new history entry.
function setHash(hash) { history.replaceState(null, '', hash); }

function isAdmin() { return session.role === 'admin'; }

// Asks before something that destroys; resolves true when confirmed.
function confirmAction(title, text, okLabel) {
	const d = $('#confirm');
	$('#confirm-title').textContent = title;
	$('#confirm-text').textContent = text;
	$('#confirm-ok').textContent = okLabel || 'Confirm';
	d.returnValue = '';
	d.showModal();
	$('#confirm-cancel').focus();
	return new Promise((resolve) => d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true }));
}

// ---- the process store: every record the page knows, kept live by /events ----

const store = {
	byId: new Map(), sorted: null, listeners: new Set(), loading: false, loaded: false, es: null,
	rank(p) { return p.state === 'queued' ? 0 : p.state === 'running' ? 1 : 2; },
	put(p) {
		const old = this.byId.get(p.id);
		if (old && this.rank(old) > this.rank(p)) return;   // an older event than the listing
		this.byId.set(p.id, p);
		this.sorted = null;
	},
	list() {
		if (!this.sorted) this.sorted = [...this.byId.values()].sort((a, b) =>
			a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : (a.id < b.id ? 1 : -1));
		return this.sorted;
	},
	changed() { for (const fn of this.listeners) fn(); },
	// Subscribes first, then lists: an event that comes during the listing is not lost.
	start() {
		if (this.es) return;
		const pending = [];
		this.es = new EventSource('/events', { withCredentials: true });
		const onEvent = (e) => {
			const ev = JSON.parse(e.data);
			if (!this.loaded) { pending.push(ev); return; }
			this.apply(ev);
		};
		for (const type of ['created', 'started', 'exited', 'removed']) this.es.addEventListener(type, onEvent);
		this.es.addEventListener('gap', () => this.reload());
		this.load().then(() => { for (const ev of pending) this.apply(ev); pending.length = 0; this.changed(); });
	},
	stop() { if (this.es) this.es.close(); this.es = null; this.loaded = false; this.byId.clear(); this.sorted = null; },
	apply(ev) {
		if (ev.event === 'removed') { this.byId.delete(ev.process.id); this.sorted = null; }
		else this.put(ev.process);
		this.scheduleChanged();
	},
	scheduleChanged() {
		if (this.frame) return;
		this.frame = requestAnimationFrame(() => { this.frame = 0; this.changed(); });
	},
	async reload() { this.byId.clear(); this.sorted = null; this.loaded = false; await this.load(); this.changed(); },
	// Pages of 1000; the table shows the first page as soon as it is in.
	async load() {
		let after = null;
		do {
			const r = await api('GET', `/processes?limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`);
			if (r.status !== 200) { toast(`Listing processes: ${errorText(r)}`); break; }
			for (const p of r.json.processes) this.put(p);
			after = r.json.next;
			this.loaded = true;
			this.changed();
		} while (after);
		this.loaded = true;
	},
};

// ---- views ------------------------------------------------------------------

const views = {
	processes: (main, parts, params) => (parts[1] ? processView(main, parts[1], params) : processesView(main, params)),
	start: (main, parts) => startView(main, parts[1]),
	search: (main, parts, params) => searchView(main, params),
	server: (main) => serverView(main),
	login: (main) => loginView(main),
};

function filterOf(params) {
	return { state: params.get('state') || '', target: params.get('target') || '', q: params.get('q') || '' };
}

function matches(p, f) {
	if (f.state && p.state !== f.state) return false;
	if (f.target && p.target !== f.target) return false;
	if (f.q) {
		const q = f.q.toLowerCase();
		const hay = `${p.name} ${p.id} ${p.target} ${JSON.stringify(p.args)} ${p.pid ?? ''}`.toLowerCase();
		if (!hay.includes(q)) return false;
	}
	return true;
}

function processesView(main, params) {
	const f = filterOf(params);
	const stateSel = el('select', { id: 'f-state', name: 'state' }, el('option', { value: '', text: 'any' }),
		STATES.map((s) => el('option', { value: s, text: s, selected: s === f.state })));
	const targetSel = el('select', { id: 'f-target', name: 'target' }, el('option', { value: '', text: 'any' }));
	const search = el('input', { id: 'f-q', type: 'search', name: 'q', value: f.q, placeholder: 'name, id, args…' });
	const count = el('p', { class: 'count', 'aria-live': 'polite', id: 'count' });
	const body = el('div', { class: 'spacer', role: 'rowgroup' });
	const scroller = el('div', { class: 'scroller', id: 'rows', tabindex: '0', 'aria-label': 'Processes' }, body);
	const head = el('div', { class: 'head', role: 'row' }, ['Name', 'Target', 'State', 'PID', 'Exit', 'Started', 'Duration']
		.map((h, i) => el('span', { role: 'columnheader', class: `c-${['name', 'target', 'state', 'pid', 'exit', 'started', 'dur'][i]}`, text: h })));
	main.append(el('h1', { text: 'Processes' }),
		el('div', { class: 'filters', role: 'search' },
			el('label', { for: 'f-state' }, 'State', stateSel),
			el('label', { for: 'f-target' }, 'Target', targetSel),
			el('label', { for: 'f-q' }, 'Search', search),
			isAdmin() ? el('a', { href: '#/start', class: 'button', text: 'Start a process…' }) : null),
		count, el('div', { class: 'grid', role: 'table', 'aria-label': 'Processes' }, head, scroller));

	let rows = [];
	const targets = new Set();
	api('GET', '/targets').then((r) => {
		if (r.status === 200) for (const t of r.json.targets) targets.add(t.name);
		fillTargets();
	});
	function fillTargets() {
		for (const p of store.byId.values()) targets.add(p.target);
		const have = new Set([...targetSel.options].map((o) => o.value));
		for (const t of [...targets].sort()) if (!have.has(t))
			targetSel.append(el('option', { value: t, text: t, selected: t === f.target }));
	}
	function refilter() {
		rows = store.list().filter((p) => matches(p, f));
		count.textContent = `${rows.length} of ${store.byId.size} processes`;
		body.style.height = `${rows.length * ROW_HEIGHT}px`;
		paint();
	}
	function paint() {
		const top = scroller.scrollTop, height = scroller.clientHeight || 600;
		const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - 10);
		const last = Math.min(rows.length, Math.ceil((top + height) / ROW_HEIGHT) + 10);
		const frag = document.createDocumentFragment();
		for (let i = first; i < last; i++) frag.append(rowOf(rows[i], i));
		body.replaceChildren(frag);
	}
	function onFilter() {
		f.state = stateSel.value; f.target = targetSel.value; f.q = search.value.trim();
		const q = new URLSearchParams();
		for (const k of ['state', 'target', 'q']) if (f[k]) q.set(k, f[k]);
		setHash(`#/processes${q.toString() ? `?${q}` : ''}`);
		refilter();
	}
	stateSel.addEventListener('change', onFilter);
	targetSel.addEventListener('change', onFilter);
	search.addEventListener('input', onFilter);
	let scrollFrame = 0;
	scroller.addEventListener('scroll', () => {
		if (!scrollFrame) scrollFrame = requestAnimationFrame(() => { scrollFrame = 0; paint(); });
	});
	const listener = () => { fillTargets(); refilter(); };
	store.listeners.add(listener);
	store.start();
	refilter();
	const ticker = setInterval(paint, 1000);    // running durations
	return () => { store.listeners.delete(listener); clearInterval(ticker); };
}

function rowOf(p, i) {
	const a = el('a', { class: 'row', role: 'row', href: `#/processes/${encodeURIComponent(p.id)}`, 'data-id': p.id },
		el('span', { role: 'cell', class: 'c-name', text: p.name }),
		el('span', { role: 'cell', class: 'c-target', text: p.target }),
		el('span', { role: 'cell', class: `c-state state state-${p.state}`, text: p.state }),
		el('span', { role: 'cell', class: 'c-pid', text: p.pid ?? '' }),
		el('span', { role: 'cell', class: 'c-exit', text: exitText(p) }),
		el('span', { role: 'cell', class: 'c-started', text: fmtTime(p.started_at) }),
		el('span', { role: 'cell', class: 'c-dur', text: duration(p) }));
	a.style.position = 'absolute';
	a.style.left = '0';
	a.style.right = '0';
	a.style.top = `${i * ROW_HEIGHT}px`;
	return a;
}

// ---- one process ------------------------------------------------------------

const SIGNALS = ['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGSTOP', 'SIGCONT', 'SIGQUIT'];

function processView(main, id, params) {
	const path = `/processes/${encodeURIComponent(id)}`;
	const details = el('dl', { class: 'kv', id: 'details' });
	const timeline = el('ol', { class: 'timeline', id: 'timeline' });
	const actions = el('div', { class: 'actions', id: 'actions' });
	const title = el('h1', { text: `Process ${id}` });
	main.append(el('p', {}, el('a', { href: '#/processes', text: '← all processes' })), title, actions,
		el('div', { class: 'cols' },
			el('section', { 'aria-labelledby': 'h-details' }, el('h2', { id: 'h-details', text: 'Details' }), details),
			el('section', { 'aria-labelledby': 'h-timeline' }, el('h2', { id: 'h-timeline', text: 'Timeline' }), timeline)));
	const output = outputPanel(main, id, params);
	let record = null, timer = 0, gone = false;

	async function refresh() {
		const r = await api('GET', path);
		if (r.status === 404) { gone = true; details.replaceChildren(el('dd', { class: 'bad', text: 'No such process (deleted?).' })); actions.replaceChildren(); return; }
		if (r.status !== 200) return;
		record = r.json;
		title.textContent = `${record.name} (${record.target})`;
		showDetails(details, record);
		showActions(actions, record, path, refresh);
		const t = await api('GET', `${path}/timeline`);
		if (t.status === 200) showTimeline(timeline, t.json.events);
	}
	output.onExit = refresh;
	refresh();
	timer = setInterval(() => { if (!gone && record && record.alive) refresh(); }, 2000);
	return () => { clearInterval(timer); output.close(); };
}

function showDetails(dl, p) {
	const rows = [['id', p.id], ['name', p.name], ['target', p.target], ['args', JSON.stringify(p.args)],
		['state', p.state], ['pid', p.pid ?? '—'], ['exit code', exitText(p) || '—'], ['reason', p.reason ?? '—'],
		['error', p.error ?? '—'], ['created', fmtTime(p.created_at)], ['started', fmtTime(p.started_at) || '—'],
		['ended', fmtTime(p.ended_at) || '—'], ['duration', duration(p) || '—'],
		['output', `stdout ${p.stdout_bytes} B, stderr ${p.stderr_bytes} B`]];
	dl.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }),
		el('dd', { text: String(v), 'data-field': k, class: k === 'state' ? `state state-${p.state}` : null })]));
}

function showTimeline(ol, events) {
	ol.replaceChildren(...events.map((e) => {
		const extra = Object.entries(e).filter(([k]) => k !== 'ts' && k !== 'event')
			.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
		return el('li', { 'data-event': e.event }, el('time', { datetime: e.ts, text: fmtTime(e.ts) }),
			el('strong', { text: e.event }), extra ? ` ${extra}` : '');
	}));
}

function showActions(div, p, path, refresh) {
	div.replaceChildren();
	if (!isAdmin()) return;
	const act = async (what, title, text, fn) => {
		if (title && !(await confirmAction(title, text, what))) return;
		const r = await fn();
		if (r.status >= 400) toast(`${what}: ${errorText(r)}`);
		else toast(`${what}: done`);
		refresh();
	};
	const sig = el('select', { id: 'signal-name', 'aria-label': 'Signal' }, SIGNALS.map((s) => el('option', { value: s, text: s })));
	if (p.alive) {
		div.append(
			el('button', { type: 'button', class: 'danger', id: 'act-terminate', onclick: () => act('Terminate',
				'Terminate this process?', `SIGTERM goes to ${p.name}'s whole process group.`, () => api('POST', `${path}/terminate`)) }, 'Terminate'),
			el('button', { type: 'button', class: 'danger', id: 'act-kill', onclick: () => act('Kill',
				'Kill this process?', `SIGKILL goes to ${p.name}'s whole process group; it cannot clean up.`, () => api('POST', `${path}/kill`)) }, 'Kill'),
			sig,
			el('button', { type: 'button', id: 'act-signal', onclick: () => act('Signal', `Send ${sig.value}?`,
				`${sig.value} goes to ${p.name}'s process group.`, () => api('POST', `${path}/signal`, { signal: sig.value })) }, 'Send signal'));
	}
	div.append(
		el('button', { type: 'button', class: 'danger', id: 'act-delete', onclick: async () => {
			if (!(await confirmAction('Delete this process?', `${p.name}'s record and output are removed${p.alive ? '; it is terminated first' : ''}.`, 'Delete'))) return;
			const r = await api('DELETE', path);
			if (r.status >= 400) toast(`Delete: ${errorText(r)}`);
			else { toast('Deleted'); go('#/processes'); }
		} }, 'Delete'),
		el('button', { type: 'button', id: 'act-again', onclick: async () => {
			const body = { target: p.target, args: p.args };
			const r = await api('POST', '/processes', body);
			if (r.status >= 400) toast(`Run again: ${errorText(r)}`);
			else go(`#/processes/${encodeURIComponent(r.json.id)}`);
		} }, 'Run again'));
}

// The output, followed live over SSE. EventSource resumes by itself after a dropped
// connection, sending the last event's id (stdout-stderr offsets) as Last-Event-ID,
// so nothing is lost or repeated; the exit event ends it.
function outputPanel(main, id, params) {
	const base = `/processes/${encodeURIComponent(id)}/output`;
	const pre = el('pre', { class: 'output', id: 'output', tabindex: '0', 'aria-label': 'Output', 'aria-live': 'off' });
	const which = el('select', { id: 'out-stream', 'aria-label': 'Stream' },
		['both', 'stdout', 'stderr'].map((s) => el('option', { value: s, text: s, selected: s === (params.get('stream') || 'both') })));
	const pause = el('button', { type: 'button', id: 'out-pause', 'aria-pressed': 'false' }, 'Pause');
	const wrap = el('input', { type: 'checkbox', id: 'out-wrap' });
	const end = el('button', { type: 'button', id: 'out-end' }, 'Jump to end');
	const dl = el('button', { type: 'button', id: 'out-download' }, 'Download raw');
	const status = el('span', { id: 'out-status', class: 'count', 'aria-live': 'polite' });
	main.append(el('section', { 'aria-labelledby': 'h-output' }, el('h2', { id: 'h-output', text: 'Output' }),
		el('div', { class: 'toolbar' }, which, pause, el('label', { for: 'out-wrap' }, wrap, ' Wrap'), end, dl, status), pre));
	const panel = { onExit: null, close: () => {} };
	const highlight = params.has('offset') ? { stream: params.get('stream') || 'stdout', offset: Number(params.get('offset')) } : null;
	let es = null, paused = false, held = [], follow = true;

	function append(d) {
		const cls = d.stream === 'stderr' ? 'err' : null;
		const hit = highlight && !highlight.done && d.stream === highlight.stream ? marked(d, cls) : null;
		pre.append(hit || (cls ? el('span', { class: cls, text: d.data }) : document.createTextNode(d.data)));
	}
	// The chunk with the line holding the searched-for offset in <mark>, scrolled to; null when
	// the offset is not in this chunk.
	function marked(d, cls) {
		const bytes = new TextEncoder().encode(d.data), rel = highlight.offset - d.offset;
		if (rel < 0 || rel >= bytes.length) return null;
		let s = rel, e = rel;
		while (s > 0 && bytes[s - 1] !== 10) s--;
		while (e < bytes.length && bytes[e] !== 10) e++;
		const dec = (a, b) => new TextDecoder().decode(bytes.subarray(a, b));
		const mark = el('mark', { class: 'hl', id: 'hit', text: dec(s, e) });
		highlight.done = true;
		follow = false;
		setTimeout(() => mark.scrollIntoView({ block: 'center' }), 0);
		return el('span', { class: cls }, dec(0, s), mark, dec(e, bytes.length));
	}
	function open() {
		pre.replaceChildren();
		if (es) es.close();
		es = new EventSource(`${base}?follow=true&stream=${which.value}`, { withCredentials: true });
		status.textContent = 'following…';
		es.addEventListener('output', (e) => {
			const d = JSON.parse(e.data);
			if (paused) { held.push(d); return; }
			append(d);
			if (follow) pre.scrollTop = pre.scrollHeight;
		});
		es.addEventListener('exit', (e) => {
			const x = JSON.parse(e.data);
			es.close();
			status.textContent = `ended: exit code ${x.exitcode}${x.signal ? ` (${x.signal})` : ''}`;
			if (panel.onExit) panel.onExit();
		});
		es.addEventListener('error', () => { if (es.readyState !== EventSource.CLOSED) status.textContent = 'reconnecting…'; });
		es.addEventListener('open', () => { status.textContent = 'following…'; });
	}
	which.addEventListener('change', open);
	pause.addEventListener('click', () => {
		paused = !paused;
		pause.setAttribute('aria-pressed', String(paused));
		pause.textContent = paused ? 'Resume' : 'Pause';
		if (!paused) { for (const d of held) append(d); held = []; if (follow) pre.scrollTop = pre.scrollHeight; }
	});
	wrap.addEventListener('change', () => pre.classList.toggle('wrap', wrap.checked));
	end.addEventListener('click', () => { follow = true; pre.scrollTop = pre.scrollHeight; });
	pre.addEventListener('scroll', () => { follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4; });
	dl.addEventListener('click', async () => {
		const s = which.value === 'stderr' ? 'stderr' : 'stdout';
		const res = await fetch(`${base}?stream=${s}`, { headers: { Accept: 'application/octet-stream' }, credentials: 'same-origin' });
		if (!res.ok) { toast(`Download: HTTP ${res.status}`); return; }
		const url = URL.createObjectURL(await res.blob());
		const a = el('a', { href: url, download: `${id}.${s}` });
		document.body.append(a);
		a.click();
		a.remove();
		setTimeout(() => URL.revokeObjectURL(url), 10000);
	});
	open();
	panel.close = () => { if (es) es.close(); };
	return panel;
}

// ---- start a process: a form generated from the target's argument schema ----

function argField(a) {
	const id = `arg-${a.name}`, errId = `err-${a.name}`;
	const hints = [a.type, a.required ? 'required' : 'optional'];
	if (a.min !== undefined) hints.push(`≥ ${a.min}`);
	if (a.max !== undefined) hints.push(`≤ ${a.max}`);
	if (a.pattern) hints.push(`pattern ${a.pattern}`);
	if (a.max_length !== undefined) hints.push(`at most ${a.max_length} bytes`);
	if (a.variadic) hints.push('one value a line');
	if (a.type === 'path' && a.root) hints.push(`inside ${a.root}`);
	const common = { id, name: a.name, 'aria-describedby': `${errId} hint-${a.name}`, 'data-arg': a.name, required: a.required || null };
	let input;
	if (a.enum) {
		input = el('select', common, a.required ? null : el('option', { value: '', text: '(none)' }),
			a.enum.map((v) => el('option', { value: JSON.stringify(v), text: String(v) })));
	} else if (a.type === 'boolean') {
		input = el('select', common, el('option', { value: '', text: a.required ? 'choose…' : '(none)' }),
			el('option', { value: 'true', text: 'true' }), el('option', { value: 'false', text: 'false' }));
	} else if (a.variadic) {
		input = el('textarea', { ...common, rows: '3' });
	} else {
		// Text, not type=number: what the user typed reaches the server, whose message names it.
		input = el('input', { ...common, type: 'text', inputmode: a.type === 'integer' || a.type === 'number' ? 'decimal' : null, autocomplete: 'off' });
	}
	return el('div', { class: 'field' }, el('label', { for: id }, a.name), input,
		el('div', { class: 'hint', id: `hint-${a.name}`, text: hints.join(', ') }),
		el('div', { class: 'field-error', id: errId, 'aria-live': 'polite' }));
}

function valueOf(a, raw) {
	const num = (v) => (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(v) ? Number(v) : v);
	if (a.enum) return JSON.parse(raw);
	if (a.type === 'boolean') return raw === 'true';
	if (a.variadic) return raw.split('\n').filter((l) => l !== '').map((v) => (a.type === 'integer' || a.type === 'number' ? num(v) : v));
	return a.type === 'integer' || a.type === 'number' ? num(raw) : raw;
}

function startView(main, wanted) {
	const sel = el('select', { id: 'start-target', name: 'target' });
	const desc = el('p', { class: 'hint', id: 'target-desc' });
	const argsBox = el('div', { id: 'args', class: 'form' });
	const name = el('input', { id: 'start-name', name: 'name', type: 'text', autocomplete: 'off', 'aria-describedby': 'err-name' });
	const wait = el('input', { id: 'start-wait', name: 'wait', type: 'text', inputmode: 'decimal', placeholder: 'seconds', 'aria-describedby': 'err-wait' });
	const formErr = el('div', { class: 'field-error', id: 'form-error', role: 'alert' });
	const form = el('form', { class: 'form', id: 'start-form', novalidate: true },
		el('label', { for: 'start-target' }, 'Target', sel), desc, argsBox,
		el('div', { class: 'field' }, el('label', { for: 'start-name' }, 'Process name (optional)'), name,
			el('div', { class: 'field-error', id: 'err-name' })),
		el('div', { class: 'field' }, el('label', { for: 'start-wait' }, 'Wait for the end (?wait=, seconds, optional)'), wait,
			el('div', { class: 'field-error', id: 'err-wait' })),
		formErr, el('div', {}, el('button', { type: 'submit', class: 'primary', id: 'start-submit' }, 'Start')));
	main.append(el('h1', { text: 'Start a process' }), form);
	let targets = [];
	const current = () => targets.find((t) => t.name === sel.value);
	function showArgs() {
		const t = current();
		desc.textContent = t ? t.description : '';
		argsBox.replaceChildren(...(t ? t.args.map(argField) : []));
		setHash(`#/start/${encodeURIComponent(sel.value)}`);
	}
	api('GET', '/targets').then((r) => {
		if (r.status !== 200) { formErr.textContent = errorText(r); return; }
		targets = r.json.targets;
		sel.replaceChildren(...targets.map((t) => el('option', { value: t.name, text: t.name, selected: t.name === wanted })));
		showArgs();
	});
	sel.addEventListener('change', showArgs);
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		for (const x of form.querySelectorAll('.field-error')) x.textContent = '';
		for (const x of form.querySelectorAll('[aria-invalid]')) x.removeAttribute('aria-invalid');
		const t = current();
		const args = {};
		for (const a of t.args) {
			const raw = $(`#arg-${CSS.escape(a.name)}`, form).value;
			if (raw !== '') args[a.name] = valueOf(a, raw);
		}
		const body = { target: t.name, args };
		if (name.value) body.name = name.value;
		const q = wait.value.trim() ? `?wait=${encodeURIComponent(wait.value.trim())}` : '';
		const r = await api('POST', `/processes${q}`, body);
		if (r.status === 201 || r.status === 200) { go(`#/processes/${encodeURIComponent(r.json.id)}`); return; }
		showErrors(form, r, formErr);
	});
	return () => {};
}

// Puts each of the server's details at its field (args.NAME, name, wait); the rest above the button.
function showErrors(form, r, formErr) {
	const details = (r.json && r.json.error && r.json.error.details) || [];
	let placed = 0;
	for (const d of details) {
		const m = /^args\.([^.[]+)/.exec(d.field || '');
		const key = m ? m[1] : d.field;
		const input = m ? form.querySelector(`[data-arg="${CSS.escape(key)}"]`) : form.querySelector(`[name="${CSS.escape(key || '')}"]`);
		const box = input && form.querySelector(`#err-${CSS.escape(key)}`);
		if (!box) continue;
		box.textContent = d.message;
		input.setAttribute('aria-invalid', 'true');
		if (!placed++) input.focus();
	}
	if (!placed) formErr.textContent = errorText(r);
}

// ---- search over captured output (server-side, GET /search) ----------------

function searchView(main, params) {
	const q = el('input', { id: 's-q', name: 'q', type: 'search', value: params.get('q') || '', required: true });
	const regex = el('input', { id: 's-regex', name: 'regex', type: 'checkbox', checked: params.get('regex') === 'true' });
	const target = el('input', { id: 's-target', name: 'target', type: 'text', value: params.get('target') || '', autocomplete: 'off' });
	const since = el('input', { id: 's-since', name: 'since', type: 'datetime-local', value: params.get('since') || '' });
	const until = el('input', { id: 's-until', name: 'until', type: 'datetime-local', value: params.get('until') || '' });
	const results = el('ol', { class: 'results', id: 'results' });
	const status = el('p', { class: 'count', id: 's-status', 'aria-live': 'polite' });
	const more = el('button', { type: 'button', id: 's-more', hidden: true }, 'More results');
	const form = el('form', { class: 'filters', id: 'search-form', role: 'search' },
		el('label', { for: 's-q' }, 'Text', q), el('label', { for: 's-regex' }, 'Regex', regex),
		el('label', { for: 's-target' }, 'Target', target), el('label', { for: 's-since' }, 'From', since),
		el('label', { for: 's-until' }, 'To', until), el('button', { type: 'submit', class: 'primary' }, 'Search'));
	main.append(el('h1', { text: 'Search output' }), form, status, results, more);
	let next = null;
	const query = () => {
		const p = new URLSearchParams({ q: q.value });
		if (regex.checked) p.set('regex', 'true');
		if (target.value) p.set('target', target.value);
		if (since.value) p.set('since', new Date(since.value).toISOString());
		if (until.value) p.set('until', new Date(until.value).toISOString());
		return p;
	};
	async function run(after) {
		const p = query();
		if (after) p.set('after', after);
		const r = await api('GET', `/search?${p}`);
		if (r.status !== 200) { status.textContent = errorText(r); more.hidden = true; return; }
		for (const m of r.json.matches) results.append(el('li', {},
			el('a', { href: `#/processes/${encodeURIComponent(m.id)}?stream=${m.stream}&offset=${m.offset}` },
				`${m.name} (${m.target}) ${m.stream} @${m.offset}`), ': ', el('span', { text: m.line })));
		next = r.json.next;
		more.hidden = !next;
		status.textContent = `${results.children.length} match(es)${next ? ', more available' : ''}; ${r.json.scanned_processes} process(es) searched`;
	}
	form.addEventListener('submit', (e) => {
		e.preventDefault();
		const h = new URLSearchParams({ q: q.value });
		if (regex.checked) h.set('regex', 'true');
		if (target.value) h.set('target', target.value);
		if (since.value) h.set('since', since.value);
		if (until.value) h.set('until', until.value);
		setHash(`#/search?${h}`);
		results.replaceChildren();
		run(null);
	});
	more.addEventListener('click', () => run(next));
	if (q.value) { results.replaceChildren(); run(null); }
	return () => {};
}

// ---- the server: health, load, per-minute charts, targets ---------------------

function barChart(title, values, cls) {
	const max = Math.max(1, ...values), w = 300 / values.length;
	const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
	svg.setAttribute('viewBox', '0 0 300 80');
	svg.setAttribute('role', 'img');
	svg.setAttribute('aria-label', `${title}: ${values.join(', ')} (oldest first)`);
	values.forEach((v, i) => {
		const r = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
		const h = (v / max) * 76;
		r.setAttribute('x', String(i * w + 1)); r.setAttribute('width', String(Math.max(1, w - 2)));
		r.setAttribute('y', String(80 - h)); r.setAttribute('height', String(h));
		svg.append(r);
	});
	return el('figure', { class: `chart ${cls || ''}` }, el('figcaption', { text: `${title} (max ${max})` }), svg);
}

// Started and failed per minute over the last 30 minutes, from the records themselves:
// the history is the store's, so it survives a reload of the page or a restart of spawnd.
function perMinute(records, minutes) {
	const now = Math.floor(Date.now() / 60000), started = new Array(minutes).fill(0), failed = new Array(minutes).fill(0);
	for (const p of records) {
		if (p.started_at) { const k = minutes - 1 - (now - Math.floor(Date.parse(p.started_at) / 60000)); if (k >= 0 && k < minutes) started[k]++; }
		const bad = p.state === 'failed' || p.state === 'lost' || (p.exitcode !== null && p.exitcode !== 0);
		if (bad && p.ended_at) { const k = minutes - 1 - (now - Math.floor(Date.parse(p.ended_at) / 60000)); if (k >= 0 && k < minutes) failed[k]++; }
	}
	return { started, failed };
}

function serverView(main) {
	const health = el('dl', { class: 'kv', id: 'health' });
	const charts = el('div', { class: 'charts', id: 'charts' });
	const targets = el('table', { class: 'plain', id: 'targets' });
	main.append(el('h1', { text: 'Server' }), health, el('h2', { text: 'Per minute (last 30 minutes)' }), charts,
		el('h2', { text: 'Targets' }), targets,
		el('h2', { text: 'Pools' }), el('p', { id: 'pools' }, el('a', { href: '#/pools', text: 'Pools: workers, task counts, jobs and their failed items' })),
		el('h2', { text: 'Shared objects' }), el('p', { id: 'shared' }, el('a', { href: '#/objects', text: 'Shared objects: lock and semaphore holders, queue depths, events, barriers, namespaces' })));
	async function poll() {
		const r = await api('GET', '/healthz');
		if (r.status === 200) {
			const h = r.json;
			health.replaceChildren(...[['status', h.status], ['version', h.version], ['uptime', fmtSeconds(h.uptime)],
				['running', h.running], ['queued', h.queued], ['store writable', h.store_writable]]
				.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: String(v), 'data-field': k })]));
		}
		const m = perMinute(store.byId.values(), 30);
		charts.replaceChildren(barChart('Started', m.started), barChart('Failed', m.failed, 'fail'));
	}
	api('GET', '/targets').then((r) => {
		if (r.status !== 200) return;
		targets.replaceChildren(el('tr', {}, el('th', { text: 'Name' }), el('th', { text: 'Kind' }), el('th', { text: 'Arguments' }), el('th', { text: 'Description' })),
			...r.json.targets.map((t) => el('tr', {}, el('td', {}, isAdmin() ? el('a', { href: `#/start/${encodeURIComponent(t.name)}`, text: t.name }) : t.name),
				el('td', { text: t.kind }), el('td', { text: t.args.map((a) => `${a.name}: ${a.type}${a.required ? '' : '?'}${a.variadic ? '…' : ''}`).join(', ') }),
				el('td', { text: t.description }))));
	});
	const listener = () => poll();
	store.listeners.add(listener);
	store.start();
	poll();
	const timer = setInterval(poll, 3000);
	return () => { clearInterval(timer); store.listeners.delete(listener); };
}

// ---- login (POST /session) and the router -----------------------------------

function loginView(main) {
	const token = el('input', { id: 'login-token', name: 'token', type: 'password', autocomplete: 'current-password', required: true });
	const err = el('div', { class: 'field-error', id: 'login-error', role: 'alert' });
	const form = el('form', { class: 'form login', id: 'login-form' },
		el('label', { for: 'login-token' }, 'Token', token), err,
		el('div', {}, el('button', { type: 'submit', class: 'primary' }, 'Log in')));
	main.append(el('h1', { text: 'Log in to spawnd' }), el('p', { text: 'The token is exchanged for a session cookie; the page keeps no copy of it.' }), form);
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const r = await api('POST', '/session', { token: token.value });
		token.value = '';
		if (r.status !== 200 && r.status !== 201) { err.textContent = errorText(r); return; }
		session.role = r.json.role;
		showWho();
		store.stop();
		go('#/processes');
	});
	setTimeout(() => token.focus(), 0);
	return () => {};
}

function showWho() {
	$('#who').textContent = session.role ? (session.tokens ? `${session.role} session` : 'no tokens: open (loopback)') : '';
	$('#logout').hidden = !(session.tokens && session.role);
	for (const a of document.querySelectorAll('.needs-admin')) a.hidden = !isAdmin();
}

async function checkSession() {
	const r = await api('GET', '/session');
	if (r.status === 200) { session.tokens = r.json.tokens; session.role = r.json.role; }
	else if (r.status === 404) { session.tokens = false; session.role = 'admin'; }   // a server without sessions
	else { session.tokens = true; session.role = null; }
	session.checked = true;
	showWho();
}

let cleanup = null;
async function route() {
	if (!session.checked) await checkSession();
	const { parts, params } = parseHash();
	let name = parts[0] || 'processes';
	if (!views[name]) name = 'processes';
	if (!session.role && name !== 'login') { go('#/login'); return; }
	if (name === 'start' && !isAdmin()) { go('#/processes'); return; }   // read-only: nothing to start
	if (cleanup) cleanup();
	const main = $('#view');
	main.replaceChildren();
	for (const a of document.querySelectorAll('nav a')) a.toggleAttribute('aria-current', a.dataset.nav === name);
	for (const a of document.querySelectorAll('nav a[aria-current]')) a.setAttribute('aria-current', 'page');
	document.title = `spawnd: ${name}`;
	cleanup = views[name](main, parts, params) || null;
}

window.addEventListener('hashchange', route);
document.addEventListener('keydown', (e) => {
	if (e.key !== '/' || /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) return;
	const s = $('#f-q') || $('#s-q');
	if (s) { e.preventDefault(); s.focus(); }
});
$('#logout').addEventListener('click', async () => {
	await api('DELETE', '/session');
	session.role = null;
	store.stop();
	showWho();
	go('#/login');
});
// After every deferred script (objects.js adds its views to the table).
document.addEventListener('DOMContentLoaded', route);
