#!/usr/bin/env node
// validate_responses.mjs — checks recorded HTTP responses against the OpenAPI contract.
//
//   node tests/validate_responses.mjs openapi/openapi.yaml RECORDED.ndjson
//
// Each line of the recording is one response the API tests saw:
//   {"method": "GET", "path": "/processes/abc?x=1", "status": 200, "body": <JSON>}
// with optionally "content_type" (the response's Content-Type) and "headers"
// (an object of response headers, names in any case).
//
// For each line: match the path against the contract's path templates (literal
// segments win over {params}), take the operation for the method and the response
// for the status (or `default`), and validate the body against that response's
// schema. Requests that match no operation use the document's
// `x-unmatched-requests` responses (404 unknown path, 405 wrong method, ...).
// A status the contract does not document is a contract gap and fails.
//
// Which schema validates the body:
//   - content_type recorded: the response's content for that media type (an
//     undocumented media type fails). application/json validates the body;
//     application/x-ndjson validates each line of a string body (or each item of
//     an array body) against the per-line schema; text/event-stream validates the
//     JSON in each event's `data:` against the media type's `x-data-schema`;
//     other media types have no schema.
//   - no content_type: application/x-ndjson when the response has it and the
//     body is a string or an array, or the response has no application/json (a
//     one-line stream recorded as its JSON object); else application/json when
//     the response has it (a body recorded as a string, i.e. not JSON, then
//     fails); else none.
// Responses with no schema to apply are counted, not failed. HEAD is answered
// as GET without a body (RFC 9110), so it is checked against the GET operation's
// statuses, headers and media types, and has no body to validate. An empty
// recording fails: it means the API tests recorded nothing.
//
// Schemas are compiled once with Ajv2020 (JSON Schema 2020-12, the dialect of
// OpenAPI 3.1) in strict mode, so a typo in the contract's schemas is an error
// rather than a silently ignored keyword. The whole document is added as one
// schema; every response schema is referred to by its JSON pointer inside it, so
// its "#/components/..." $refs resolve as they do for any OpenAPI tool. Every
// schema of the contract is compiled up front, so a broken one fails the run even
// when no recorded response reaches it.
//
// Output: one "FAIL <METHOD> <path> <status>: <why>" line per failure, then
// "validated N responses, M failed, K without a schema". Exit 1 if any failed,
// 2 on bad usage.

import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const DOC_ID = "urn:spawnd:openapi";
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

function usage(message) {
	if (message) console.error(`validate_responses: ${message}`);
	console.error("usage: node tests/validate_responses.mjs OPENAPI.yaml RECORDED.ndjson");
	process.exit(2);
}

/* JSON pointer escaping (RFC 6901) for building refs into the document. */
function pointer(...parts) {
	return parts.map((p) => "/" + String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}

/* The node at a JSON pointer of the document, following local "$ref"s (a response,
 * header or schema may be one). Returns { node, ptr } with the pointer of the node
 * finally reached, so a schema can be compiled where it really lives. */
function resolve(doc, ptr) {
	const seen = new Set();
	for (;;) {
		const node = ptr.slice(1).split("/").reduce((obj, part) => {
			const key = part.replace(/~1/g, "/").replace(/~0/g, "~");
			return obj == null ? undefined : obj[key];
		}, doc);
		if (node === undefined) throw new Error(`nothing at #${ptr}`);
		if (!node || typeof node.$ref !== "string") return { node, ptr };
		if (!node.$ref.startsWith("#/") || seen.has(node.$ref)) throw new Error(`cannot resolve ${node.$ref}`);
		seen.add(node.$ref);
		ptr = node.$ref.slice(1);
	}
}

/* The path templates, each with its segments, ready for matching. */
function compileTemplates(doc) {
	return Object.keys(doc.paths || {}).map((template) => ({
		template,
		segments: template.split("/").slice(1).map((s) => (/^\{[^}]+\}$/.test(s) ? null : s)),
	}));
}

/* Finds the template for a concrete path: same number of segments, each literal
 * segment equal, each {param} a non-empty segment. Where several match, literal
 * segments win, compared from the left (so /a/b beats /a/{x}). */
function matchPath(templates, path) {
	const segments = path.split("/").slice(1).map((s) => {
		try { return decodeURIComponent(s); } catch { return s; }
	});
	let best = null;
	for (const t of templates) {
		if (t.segments.length !== segments.length) continue;
		let ok = true;
		const score = [];
		for (let i = 0; i < segments.length && ok; i++) {
			if (t.segments[i] === null) { ok = segments[i] !== ""; score.push(0); }
			else { ok = t.segments[i] === segments[i]; score.push(1); }
		}
		if (!ok) continue;
		if (!best || compareScores(score, best.score) > 0) best = { template: t.template, score };
	}
	return best ? best.template : null;
}

function compareScores(a, b) {
	for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
	return 0;
}

function mediaType(value) {
	return typeof value === "string" ? value.split(";")[0].trim().toLowerCase() : null;
}

function headerValue(headers, name) {
	if (!headers || typeof headers !== "object") return undefined;
	for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name.toLowerCase()) return v;
	return undefined;
}

/* Ajv errors as one line; allOf branches can repeat an error, so each is shown once. */
function formatErrors(errors) {
	const lines = (errors || []).map((e) => {
		const params = e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : "";
		return `${e.instancePath || "/"} ${e.message}${params}`;
	});
	return [...new Set(lines)].join("; ");
}

/* A header's value against its schema; a header is text, so a value for an
 * integer or number schema must be the decimal form of one. */
function checkHeader(validatorAt, ptr, schema, value) {
	let v = value;
	if ((schema.type === "integer" || schema.type === "number") && /^-?[0-9]+(\.[0-9]+)?$/.test(value)) v = Number(value);
	const validate = validatorAt(ptr);
	return validate(v) ? null : formatErrors(validate.errors);
}

/* The data of each event of an SSE body, parsed as JSON: { value } or { error }.
 * Events are separated by a blank line; comments (heartbeats) and events
 * without data carry nothing to validate. */
function sseData(body) {
	const items = [];
	for (const block of body.replace(/\r\n?/g, "\n").split("\n\n")) {
		const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
		if (data.length === 0) continue;
		try { items.push({ value: JSON.parse(data.join("\n")) }); } catch (err) { items.push({ error: err.message }); }
	}
	return items;
}

function main(argv) {
	if (argv.length !== 2) usage();
	const [specFile, recordFile] = argv;
	let doc;
	try {
		doc = parseYaml(readFileSync(specFile, "utf8"));
	} catch (err) {
		usage(`${specFile}: ${err.message}`);
	}
	if (!doc || typeof doc.openapi !== "string" || !doc.openapi.startsWith("3.1")) usage(`${specFile}: not an OpenAPI 3.1 document`);

	const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true });
	addFormats(ajv);
	// OpenAPI's own schema keywords, and the document's top-level members, are annotations here.
	ajv.addVocabulary(["example", "discriminator", "xml", "externalDocs", "openapi", "info", "servers",
		"security", "tags", "paths", "components", "webhooks", "jsonSchemaDialect"]);
	for (const key of Object.keys(doc)) if (key.startsWith("x-")) ajv.addKeyword(key);
	ajv.addSchema({ ...doc, $id: DOC_ID });

	const templates = compileTemplates(doc);
	const validators = new Map();
	const validatorAt = (ptr) => {
		if (!validators.has(ptr)) validators.set(ptr, ajv.compile({ $ref: `${DOC_ID}#${ptr}` }));
		return validators.get(ptr);
	};

	// A failed oneOf reports every branch's errors; name the branch that came
	// closest and show only its errors. Closest: a branch whose `const` members
	// (such as "event") the value has, else one without a `const` mismatch, then
	// the fewest errors.
	const explain = (ptr, value, errors) => {
		try {
			const { node: schema, ptr: at } = resolve(doc, ptr);
			if (!Array.isArray(schema.oneOf)) return formatErrors(errors);
			let best = null;
			schema.oneOf.forEach((branch, i) => {
				const v = validatorAt(`${at}${pointer("oneOf", i)}`);
				if (v(value)) return;
				const name = typeof branch.$ref === "string" ? branch.$ref.split("/").pop() : `oneOf[${i}]`;
				const consts = Object.entries(resolve(doc, `${at}${pointer("oneOf", i)}`).node.properties || {})
					.filter(([, prop]) => prop && "const" in prop);
				const claims = consts.length > 0 && value !== null && typeof value === "object"
					&& consts.every(([key, prop]) => value[key] === prop.const);
				const mismatch = v.errors.some((e) => e.keyword === "const");
				const score = [claims ? 0 : mismatch ? 2 : 1, v.errors.length];
				if (!best || compareScores(score, best.score) < 0) best = { name, errors: v.errors, score };
			});
			return best ? `closest to ${best.name}: ${formatErrors(best.errors)}` : formatErrors(errors);
		} catch {
			return formatErrors(errors);
		}
	};

	let validated = 0, failed = 0, withoutSchema = 0;
	const fail = (where, message) => { failed++; console.log(`FAIL ${where}: ${message}`); };

	// Compile every schema of the contract first, so a broken schema is reported even
	// when no recorded response reaches it.
	const schemaPtrs = Object.keys(doc.components?.schemas || {}).map((n) => pointer("components", "schemas", n));
	const addContent = (ptr, content) => {
		for (const [type, media] of Object.entries(content || {})) {
			for (const key of ["schema", "x-data-schema"]) if (media[key]) schemaPtrs.push(`${ptr}${pointer("content", type, key)}`);
		}
	};
	for (const [n, r] of Object.entries(doc.components?.responses || {})) addContent(pointer("components", "responses", n), r.content);
	for (const [code, r] of Object.entries(doc["x-unmatched-requests"]?.responses || {})) {
		addContent(pointer("x-unmatched-requests", "responses", code), r.content);
	}
	for (const [template, item] of Object.entries(doc.paths || {})) {
		for (const method of METHODS) {
			for (const [code, r] of Object.entries(item[method]?.responses || {})) {
				addContent(pointer("paths", template, method, "responses", code), r.content);
			}
		}
	}
	for (const ptr of schemaPtrs) {
		try { validatorAt(ptr); } catch (err) { fail(`contract #${ptr}`, `cannot compile the schema: ${err.message}`); }
	}

	let records;
	try {
		records = readFileSync(recordFile, "utf8").split("\n");
	} catch (err) {
		usage(`${recordFile}: ${err.message}`);
	}

	let recorded = 0;
	records.forEach((line, index) => {
		if (line.trim() === "") return;
		recorded++;
		let rec;
		try {
			rec = JSON.parse(line);
		} catch (err) {
			fail(`${recordFile}:${index + 1}`, `not JSON: ${err.message}`);
			return;
		}
		const method = String(rec.method || "").toLowerCase();
		const rawPath = String(rec.path || "");
		const path = rawPath.split(/[?#]/)[0];
		const status = String(rec.status);
		const where = `${method.toUpperCase()} ${rawPath} ${status}`;
		if (!METHODS.includes(method) || !path.startsWith("/") || !/^[1-5][0-9][0-9]$/.test(status)) {
			fail(where, `${recordFile}:${index + 1}: not a recorded response (method, path, status)`);
			return;
		}

		// Operation → responses, or the document's answers to unmatched requests.
		const template = matchPath(templates, path);
		const head = method === "head" && template && !doc.paths[template].head;
		const operation = template ? doc.paths[template][head ? "get" : method] : undefined;
		let responses, base;
		if (operation) {
			responses = operation.responses || {};
			base = pointer("paths", template, method, "responses");
		} else {
			responses = (doc["x-unmatched-requests"] || {}).responses || {};
			base = pointer("x-unmatched-requests", "responses");
		}
		const code = status in responses ? status : (`${status[0]}XX` in responses ? `${status[0]}XX` : ("default" in responses ? "default" : null));
		const opName = operation ? `${head ? "GET (as HEAD)" : method.toUpperCase()} ${template}` : "an unmatched request";
		if (code === null) {
			fail(where, `contract gap: status ${status} is not documented for ${opName}`);
			return;
		}

		let response, responsePtr;
		try {
			({ node: response, ptr: responsePtr } = resolve(doc, `${base}${pointer(code)}`));
		} catch (err) {
			fail(where, err.message);
			return;
		}

		// Required headers, when the recording has them.
		if (rec.headers && typeof rec.headers === "object") {
			for (const [name, header] of Object.entries(response.headers || {})) {
				let h, hptr;
				try {
					({ node: h, ptr: hptr } = resolve(doc, `${responsePtr}${pointer("headers", name)}`));
				} catch (err) { fail(where, err.message); return; }
				const value = headerValue(rec.headers, name);
				if (h.required && value === undefined) {
					fail(where, `missing required header ${name}`);
					return;
				}
				const problem = value === undefined || !h.schema ? null
					: checkHeader(validatorAt, `${hptr}${pointer("schema")}`, h.schema, value);
				if (problem) {
					fail(where, `header ${name}: ${JSON.stringify(value)}: ${problem}`);
					return;
				}
			}
		}

		const content = response.content || {};
		const recordedType = mediaType(rec.content_type ?? headerValue(rec.headers, "content-type"));
		let type = null;
		if (recordedType) {
			if (Object.keys(content).length === 0 && (rec.body === undefined || rec.body === null || rec.body === "")) {
				withoutSchema++;
				return;
			}
			if (!(recordedType in content)) {
				fail(where, `contract gap: media type ${recordedType} is not documented for ${opName} ${code}`);
				return;
			}
			type = recordedType;
			if (head) {
				withoutSchema++;
				return;
			}
		} else if ("application/x-ndjson" in content
			&& (typeof rec.body === "string" || Array.isArray(rec.body)
				|| (!("application/json" in content) && rec.body !== null && typeof rec.body === "object"))) {
			type = "application/x-ndjson"; // an object body is a one-line stream that parsed as JSON
		} else if ("application/json" in content) {
			type = "application/json"; // a body that is not JSON (recorded as a string) fails here
		}
		const sse = type === "text/event-stream";
		const schemaKey = sse ? "x-data-schema" : "schema";
		if (!type || !content[type][schemaKey]
			|| (type !== "application/json" && type !== "application/x-ndjson" && !sse)) {
			withoutSchema++;
			return;
		}

		let validate;
		const schemaPtr = `${responsePtr}${pointer("content", type, schemaKey)}`;
		try {
			validate = validatorAt(schemaPtr);
		} catch (err) {
			fail(where, `cannot compile the schema: ${err.message}`);
			return;
		}
		validated++;
		const check = (value) => (validate(value) ? null : explain(schemaPtr, value, validate.errors));
		if (type === "application/json") {
			const problem = check(rec.body);
			if (problem) fail(where, problem);
			return;
		}
		// NDJSON: the schema describes one line; SSE: one event's data.
		let items;
		if (sse) items = sseData(String(rec.body ?? ""));
		else if (Array.isArray(rec.body)) items = rec.body.map((value) => ({ value }));
		else if (typeof rec.body !== "string") items = [{ value: rec.body }];
		else {
			items = rec.body.split("\n").filter((l) => l !== "").map((l) => {
				try { return { value: JSON.parse(l) }; } catch (err) { return { error: err.message }; }
			});
		}
		const problems = [];
		items.forEach((item, i) => {
			if (item.error) problems.push(`line ${i + 1}: not JSON: ${item.error}`);
			else {
				const problem = check(item.value);
				if (problem) problems.push(`line ${i + 1}: ${problem}`);
			}
		});
		if (problems.length) fail(where, problems.join("; "));
	});

	if (recorded === 0) fail(recordFile, "nothing was recorded (did the API tests run with SPAWND_RECORD set?)");
	console.log(`validated ${validated} responses, ${failed} failed, ${withoutSchema} without a schema`);
	process.exit(failed ? 1 : 0);
}

main(process.argv.slice(2));
