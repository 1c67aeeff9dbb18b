#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Real-browser test of collector/tracker.js: headless Chromium loads the sample
// page (collector/example/index.html), the visitor accepts consent, scrolls to
// the bottom, clicks a product, adds to cart and leaves; the events must reach
// `eddy run` through its `http` source and land in its file sink.
//
//   node tests/browser/tracker_test.mjs [path/to/eddy]     (or EDDY_BINARY=...)
//
// Exit codes: 0 passed, 1 failed, 77 skipped (no Chromium or no node_modules:
// `npm ci --prefix tests/browser`; EDDY_REQUIRE_BROWSER=1 turns a skip into a
// failure). EDDY_CHROMIUM overrides /usr/bin/chromium. `--stub` swaps eddy for a
// small collector in Node, to debug the tracker alone; it is not the test.
// EDDY_BROWSER_KEEP=1 keeps the temporary folder (topology, events, metrics).
// Every server binds 127.0.0.1 on an ephemeral port.

import {spawn} from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const COLLECTOR_DIR = path.resolve(HERE, '../../collector');
const CHROMIUM = process.env.EDDY_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update',
    '--disable-sync'];
const DEADLINE_MS = 60000;  // the whole test; it normally takes a few seconds

const started = Date.now();
const log = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);

class Failure extends Error {}
const fail = (msg) => { throw new Failure(msg); };

function skip(msg) {
    if (process.env.EDDY_REQUIRE_BROWSER === '1') {
        console.error(`FAIL: ${msg} (EDDY_REQUIRE_BROWSER=1)`);
        process.exit(1);
    }
    console.log(`SKIP: ${msg}`);
    process.exit(77);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every 100 ms until it returns a truthy value; fails with `what` after `ms`. */
async function waitFor(what, ms, probe) {
    const end = Date.now() + ms;
    for (;;) {
        const v = await probe();
        if (v) {
            return v;
        }
        if (Date.now() > end) {
            fail(`timed out after ${ms} ms waiting for ${what}`);
        }
        await sleep(100);
    }
}

function listen(server) {
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server.address().port));
    });
}

// ---- the sample page, served as a site would ------------------------------

/** Serves collector/ (tracker.js, example/), pointing the page's tracker at endpoint(). */
async function startSite(endpoint) {
    const types = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8'};
    const server = http.createServer((req, res) => {
        const url = new URL(req.url, 'http://127.0.0.1');
        const file = path.join(COLLECTOR_DIR, path.normalize(decodeURIComponent(url.pathname)));
        if (!file.startsWith(COLLECTOR_DIR + path.sep) || !fs.existsSync(file) ||
            !fs.statSync(file).isFile()) {
            res.writeHead(404).end('not found');
            return;
        }
        let body = fs.readFileSync(file);
        if (file.endsWith('.html')) {
            // The test's collector, and a flush interval longer than the test, so that
            // what follows the first send can only arrive by the beacon at pagehide.
            body = body.toString('utf8')
                .replace(/data-endpoint="[^"]*"/, `data-endpoint="${endpoint()}"`)
                .replace(/data-flush-ms="[^"]*"/, 'data-flush-ms="600000"');
        }
        res.writeHead(200, {'Content-Type': types[path.extname(file)] || 'application/octet-stream',
            'Cache-Control': 'no-store'});
        res.end(body);
    });
    const port = await listen(server);
    return {origin: `http://127.0.0.1:${port}`, close: () => server.close()};
}

// ---- the collector: eddy with the http source (or the debugging stub) ------

/**
 * Starts `eddy run` on a topology whose `http` source feeds a file sink.
 * Returns {endpoint, received(), stop()}: received() is the number of records
 * the sink got so far (from --metrics-file), stop() ends eddy with SIGINT.
 */
async function startEddy(eddy, dir, siteOrigin) {
    const portFile = path.join(dir, 'port');
    const eventsFile = path.join(dir, 'events.jsonl');
    const metricsFile = path.join(dir, 'metrics.prom');
    const topology = path.join(dir, 'browser.yaml');
    fs.writeFileSync(topology, `# Written by tests/browser/tracker_test.mjs
name: browser_tracker
parallelism: 1
sources:
  web:
    type: http
    listen: "127.0.0.1:0"
    port_file: ${JSON.stringify(portFile)}
    allow_origins: [${JSON.stringify(siteOrigin)}]
    event_time: {field: ts, unit: ms}
sinks:
  events: {type: file, input: web, path: ${JSON.stringify(eventsFile)}}
  rejected: {type: file, input: web.errors, path: ${JSON.stringify(path.join(dir, 'errors.jsonl'))}}
`);
    const child = spawn(eddy, ['run', '--no-progress', '--no-state', '--metrics-file', metricsFile,
        '--metrics-interval', '100ms', topology], {stdio: ['ignore', 'pipe', 'pipe']});
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    let exitCode = null;
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
        exitCode = code ?? `signal ${signal}`;
        resolve(exitCode);
    }));
    child.on('error', (e) => { output += `spawn: ${e.message}\n`; });
    const port = await waitFor('eddy to write its port_file', 20000, () => {
        if (exitCode !== null) {
            fail(`eddy exited (${exitCode}) before listening:\n${output}`);
        }
        const text = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8') : '';
        const m = /(\d+)\s*$/.exec(text);
        return m ? Number(m[1]) : 0;
    });
    return {
        endpoint: `http://127.0.0.1:${port}/v1/events`,
        eventsFile,
        output: () => output,
        /** Requests eddy answered with `code`, from its metrics. */
        answered(code) {
            const text = fs.existsSync(metricsFile) ? fs.readFileSync(metricsFile, 'utf8') : '';
            const m = new RegExp(`^eddy_http_requests_total\\{[^}]*code="${code}"\\} (\\d+)$`, 'm').exec(text);
            return m ? Number(m[1]) : null;
        },
        received() {
            const text = fs.existsSync(metricsFile) ? fs.readFileSync(metricsFile, 'utf8') : '';
            const m = /^eddy_records_in_total\{component="events"[^}]*\} (\d+)$/m.exec(text);
            return m ? Number(m[1]) : 0;
        },
        async stop() {
            if (exitCode === null) {
                child.kill('SIGINT');
                const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
                await exited;
                clearTimeout(timer);
            }
            if (exitCode !== 0) {
                fail(`eddy did not stop cleanly on SIGINT (exit ${exitCode}):\n${output}`);
            }
        },
        kill() {
            if (exitCode === null) {
                child.kill('SIGKILL');
            }
        },
    };
}

/** A stand-in for eddy's http source, for debugging the tracker alone (--stub). */
async function startStub(dir, siteOrigin) {
    const eventsFile = path.join(dir, 'events.jsonl');
    let count = 0;
    const server = http.createServer((req, res) => {
        const cors = req.headers.origin === siteOrigin
            ? {'Access-Control-Allow-Origin': siteOrigin, 'Vary': 'Origin'} : {};
        if (req.method === 'OPTIONS') {
            res.writeHead(204, {...cors, 'Access-Control-Allow-Methods': 'POST',
                'Access-Control-Allow-Headers': 'Content-Type', 'Access-Control-Max-Age': '600'});
            res.end();
            return;
        }
        let body = '';
        req.on('data', (d) => { body += d; });
        req.on('end', () => {
            const text = body.trim();
            const events = text.startsWith('[') ? JSON.parse(text)
                : text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
            fs.appendFileSync(eventsFile, events.map((e) => JSON.stringify(e) + '\n').join(''));
            count += events.length;
            res.writeHead(202, {...cors, 'Content-Type': 'application/json'});
            res.end(JSON.stringify({accepted: events.length, rejected: 0, errors: []}));
        });
    });
    const port = await listen(server);
    return {endpoint: `http://127.0.0.1:${port}/v1/events`, eventsFile, output: () => '',
        received: () => count, stop: async () => server.close(), kill: () => server.close()};
}

// ---- the checks -------------------------------------------------------------

function check(events, site, t0, t1) {
    const problems = [];
    const expect = (ok, msg) => { if (!ok) { problems.push(msg); } };
    const of = (type) => events.filter((e) => e.type === type);
    expect(events.length >= 4, `expected at least 4 events, got ${events.length}`);

    const pageViews = of('page_view');
    expect(pageViews.length === 1, `expected 1 page_view, got ${pageViews.length}`);
    const pv = pageViews[0] || {};
    expect(pv.url === `${site}/example/index.html`, `page_view url is ${pv.url}`);
    expect(typeof pv.user_id === 'string' && pv.user_id.length > 0, 'page_view has no user_id');

    const scrolls = of('scroll');
    const deepest = Math.max(-1, ...scrolls.map((e) => e.scroll_pct));
    expect(scrolls.length >= 1, 'no scroll event');
    expect(deepest >= 0.98 && deepest <= 1, `scroll_pct should be close to 1, got ${deepest}`);
    expect(scrolls.every((e) => Number.isInteger(e.dwell_ms) && e.dwell_ms >= 0),
        'scroll without a dwell_ms');
    expect(scrolls.some((e) => e.dwell_ms > 0), 'no scroll event has dwell_ms > 0');

    const clicks = of('click');
    expect(clicks.length === 1, `expected 1 click, got ${clicks.length}`);
    const click = clicks[0] || {};
    expect(click.item_id === 'i19' && click.category === 'socks',
        `click has item_id ${click.item_id} and category ${click.category}, expected i19 and socks`);

    const carts = of('add_to_cart');
    expect(carts.length === 1, `expected 1 add_to_cart, got ${carts.length}`);
    const cart = carts[0] || {};
    expect(cart.item_id === 'i42' && cart.category === 'shoes',
        `add_to_cart has item_id ${cart.item_id} and category ${cart.category}`);

    const users = new Set(events.map((e) => e.user_id));
    expect(users.size === 1 && /^[0-9a-f]{32}$/.test([...users][0]),
        `expected one 32-hex-digit user_id, got ${[...users].join(', ')}`);
    const sessions = new Set(events.map((e) => e.session_id));
    expect(sessions.size === 1 && !sessions.has(undefined), `expected one session_id, got ${sessions.size}`);
    const ids = new Set(events.map((e) => e.event_id));
    expect(ids.size === events.length && !ids.has(undefined), 'event_ids are missing or repeated');
    for (const e of events) {
        expect(Number.isInteger(e.ts) && e.ts >= t0 - 1000 && e.ts <= t1 + 1000,
            `${e.type} has ts ${e.ts}, not an epoch ms number within the test`);
        expect(e.device === 'desktop', `${e.type} has device ${e.device}`);
        expect(typeof e.ua === 'string' && e.ua.includes('Chrome'), `${e.type} has ua ${e.ua}`);
    }
    return problems;
}

// ---- the test ---------------------------------------------------------------

async function main() {
    const useStub = process.argv.includes('--stub');
    const eddy = process.argv.slice(2).find((a) => !a.startsWith('--')) || process.env.EDDY_BINARY;
    if (!useStub && (!eddy || !fs.existsSync(eddy))) {
        fail(`no eddy binary (give its path as the argument or in EDDY_BINARY; got '${eddy ?? ''}')`);
    }
    if (!fs.existsSync(CHROMIUM)) {
        skip(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set EDDY_CHROMIUM)`);
    }
    let chromium;
    try {
        ({chromium} = await import('playwright-core'));
    } catch {
        skip(`playwright-core is not installed in ${HERE}/node_modules: run npm ci --prefix ${HERE} (scripts/install-deps.sh does)`);
    }

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eddy-browser-'));
    let collector = null;
    let site = null;
    let browser = null;
    const watchdog = setTimeout(() => {
        console.error(`FAIL: the test took longer than ${DEADLINE_MS / 1000} s`);
        collector?.kill();
        process.exit(1);
    }, DEADLINE_MS);
    try {
        // The site's origin must be known before the collector starts (allow_origins),
        // and the page must know the collector's endpoint: the site rewrites it per request.
        let endpoint = '';
        site = await startSite(() => endpoint);
        collector = useStub ? await startStub(dir, site.origin) : await startEddy(eddy, dir, site.origin);
        endpoint = collector.endpoint;
        log(`${useStub ? 'stub collector' : 'eddy'} at ${endpoint}, page at ${site.origin}`);

        browser = await chromium.launch({executablePath: CHROMIUM, args: CHROMIUM_ARGS});
        const context = await browser.newContext({viewport: {width: 1280, height: 800}});
        const page = await context.newPage();
        const pageErrors = [];
        page.on('pageerror', (e) => pageErrors.push(e.message));
        page.on('console', (m) => { if (m.type() === 'error') { pageErrors.push(m.text()); } });

        const t0 = Date.now();
        await page.goto(`${site.origin}/example/index.html`);
        await page.waitForFunction(() => window.eddy && window.eddy.version);
        // Nothing may leave the page or be stored before consent.
        await sleep(300);
        const before = await page.evaluate(() => ({stored: Object.keys(localStorage),
            stats: window.eddy.stats()}));
        if (collector.received() !== 0 || before.stats.sent !== 0) {
            fail(`events were sent before consent (${JSON.stringify(before.stats)})`);
        }
        if (before.stored.some((k) => k.startsWith('eddy_'))) {
            fail(`the tracker wrote to localStorage before consent: ${before.stored.join(', ')}`);
        }

        await page.click('#consent-accept');
        // Consent sends the held page_view at once, by fetch (CORS, text/plain).
        await waitFor('the page_view sent by fetch to reach eddy', 15000, () => collector.received() >= 1);
        log('page_view arrived (fetch)');

        await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
        await page.waitForFunction(() =>
            window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 1);
        await page.click('#p-i19');
        await page.click('#add-to-cart');
        const stats = await page.evaluate(() => window.eddy.stats());
        if (stats.pending !== 2) {
            fail(`expected the click and add_to_cart to wait for the beacon, stats ${JSON.stringify(stats)}`);
        }
        // Leaving the page: pagehide/visibilitychange send the scroll event and the rest by beacon.
        await page.goto('about:blank');
        await waitFor('the beacon\'s events to reach eddy', 15000, () => collector.received() >= 4);
        await sleep(300);  // anything sent twice would show up now
        await browser.close();
        browser = null;
        const t1 = Date.now();
        log(`beacon arrived; ${collector.received()} events in total`);

        await collector.stop();
        const text = fs.existsSync(collector.eventsFile) ? fs.readFileSync(collector.eventsFile, 'utf8') : '';
        const events = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
        const problems = check(events, site.origin, t0, t1);
        // text/plain bodies need no CORS preflight: eddy answered no OPTIONS (204).
        const preflights = collector.answered?.(204);
        if (preflights) {
            problems.push(`the tracker caused ${preflights} CORS preflight(s); it must POST text/plain`);
        }
        const errorsFile = path.join(dir, 'errors.jsonl');
        if (fs.existsSync(errorsFile) && fs.readFileSync(errorsFile, 'utf8').trim()) {
            problems.push(`eddy rejected input:\n${fs.readFileSync(errorsFile, 'utf8')}`);
        }
        if (pageErrors.length) {
            problems.push(`errors on the page: ${pageErrors.join('; ')}`);
        }
        if (problems.length) {
            fail(`${problems.join('\n  ')}\nevents:\n${text}${collector.output()}`);
        }
        log(`events: ${events.map((e) => e.type).join(', ')}`);
        if (process.env.EDDY_BROWSER_KEEP === '1') {
            log(`kept ${dir}`);
        } else {
            fs.rmSync(dir, {recursive: true, force: true});
        }
    } finally {
        clearTimeout(watchdog);
        await browser?.close().catch(() => {});
        collector?.kill();
        site?.close();
    }
}

main().then(() => {
    console.log(`PASS: tracker events reached eddy through a real browser in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    process.exit(0);
}, (e) => {
    console.error(`FAIL: ${e instanceof Failure ? e.message : e.stack}`);
    process.exit(1);
});
