/*! SPDX-License-Identifier: Apache-2.0
 * Eddy tracker: sends clickstream events from a web page to Eddy's `http`
 * source. Plain JavaScript, no build step, no dependencies. Embed with:
 *
 *   <script src="tracker.js" data-endpoint="https://collect.example.com/v1/events"
 *           data-consent="required" async></script>
 *
 * Script attributes (all optional):
 *   data-endpoint       where events are POSTed (default "/v1/events" on the page's origin)
 *   data-consent        "required": nothing is sent and nothing stored until eddy.consent(true)
 *   data-batch-size     events per request; a full batch is sent at once (default 20)
 *   data-flush-ms       longest wait before a partial batch is sent (default 5000)
 *   data-max-queue      events kept while they cannot be sent; the oldest are dropped beyond (1000)
 *   data-auto-page-view "false": no page_view at load (call eddy.pageView() yourself)
 *
 * Events follow Eddy's clickstream shape (docs/serving.md#tracker):
 *   {ts, user_id, session_id, event_id, type, url, referrer, item_id, category,
 *    dwell_ms, scroll_pct, device, ua}
 * Fields without a value are left out.
 */
(function () {
    'use strict';

    var pending = window.eddy; // calls queued before this script ran: {q: [[method, ...args]]}
    if (pending && pending.version) {
        return; // loaded twice
    }

    // ---- configuration, from the script tag -------------------------------
    var tag = document.currentScript || document.querySelector('script[data-endpoint]');
    var data = (tag && tag.dataset) || {};
    function intAttr(value, fallback) {
        var n = parseInt(value, 10);
        return n > 0 ? n : fallback;
    }
    var config = {
        endpoint: data.endpoint || '/v1/events',
        consentRequired: data.consent === 'required',
        batchSize: intAttr(data.batchSize, 20),
        flushMs: intAttr(data.flushMs, 5000),
        maxQueue: intAttr(data.maxQueue, 1000),
        autoPageView: data.autoPageView !== 'false'
    };
    var MAX_BODY_BYTES = 60000;          // browsers cap keepalive/beacon bodies near 64 KiB
    var RETRY_BASE_MS = 1000;            // first retry after about 1 s, doubling
    var RETRY_MAX_MS = 60000;            // never wait longer than a minute between tries
    var SESSION_IDLE_MS = 30 * 60 * 1000; // a new session after 30 minutes without events
    var UID_KEY = 'eddy_uid';
    var SID_KEY = 'eddy_sid';

    // ---- ids and storage ---------------------------------------------------
    /** A random id of `bytes` bytes as hex, from crypto.getRandomValues. */
    function randomId(bytes) {
        var a = new Uint8Array(bytes);
        crypto.getRandomValues(a);
        var s = '';
        for (var i = 0; i < a.length; i++) {
            s += (a[i] < 16 ? '0' : '') + a[i].toString(16);
        }
        return s;
    }
    // localStorage may be missing or throw (blocked cookies, sandboxed
    // frames); then ids live in memory only, for this page.
    function load(key) {
        try { return window.localStorage.getItem(key); } catch (e) { return null; }
    }
    function store(key, value) {
        try {
            if (value === null) { window.localStorage.removeItem(key); }
            else { window.localStorage.setItem(key, value); }
        } catch (e) { /* memory only */ }
    }

    // consent: true (send), false (refused: drop everything), null (not given yet: hold in memory).
    var consent = config.consentRequired ? null : true;
    var userId = null;
    var session = null; // {id, last}: the session and the time of its last event

    /** The anonymous user id; read or created (and stored) only with consent. */
    function currentUserId() {
        if (!userId) {
            userId = load(UID_KEY);
            if (!userId || !/^[0-9a-f]{32}$/.test(userId)) {
                userId = randomId(16);
                store(UID_KEY, userId);
            }
        }
        return userId;
    }

    /** The session id at time `ts`: a new one after SESSION_IDLE_MS without events. */
    function currentSessionId(ts) {
        if (!session) {
            var saved = (load(SID_KEY) || '').split('.');
            session = saved.length === 2 ? {id: saved[0], last: +saved[1]} : null;
        }
        if (!session || !(ts - session.last < SESSION_IDLE_MS)) {
            session = {id: randomId(8), last: ts};
        }
        session.last = Math.max(session.last, ts);
        store(SID_KEY, session.id + '.' + session.last);
        return session.id;
    }

    // ---- the page ----------------------------------------------------------
    /** mobile, tablet or desktop: from the user agent, then from the screen of touch devices. */
    function deviceType() {
        var ua = navigator.userAgent || '';
        if (/iPad|Tablet|PlayBook|Silk|Kindle|Android(?!.*Mobile)/i.test(ua)) { return 'tablet'; }
        if (/Mobi|iPhone|iPod|Android|Windows Phone|IEMobile|Opera Mini/i.test(ua)) { return 'mobile'; }
        if (navigator.userAgentData && navigator.userAgentData.mobile) { return 'mobile'; }
        if (navigator.maxTouchPoints > 1) { // e.g. iPadOS, which claims to be a Mac
            return Math.min(screen.width, screen.height) < 600 ? 'mobile' : 'tablet';
        }
        return 'desktop';
    }
    var device = deviceType();

    function pageUrl() {
        return location.href.split('#')[0];
    }

    // ---- the queue and sending ---------------------------------------------
    var queue = [];       // events not yet sent, oldest first
    var inFlight = null;  // the batch a fetch is sending now
    var timer = null;     // the next flush (batch timeout or retry)
    var retryAt = 0;      // no fetch before this time (backoff, Retry-After)
    var attempts = 0;     // failures in a row
    var stats = {queued: 0, sent: 0, dropped: 0, retries: 0};

    function enqueue(event) {
        if (consent === false) {
            return;
        }
        queue.push(event);
        stats.queued++;
        trimQueue();
        schedule(queue.length >= config.batchSize ? 0 : config.flushMs);
    }

    /** The queue is bounded: beyond maxQueue events the oldest are dropped. */
    function trimQueue() {
        if (queue.length > config.maxQueue) {
            stats.dropped += queue.length - config.maxQueue;
            queue.splice(0, queue.length - config.maxQueue);
        }
    }

    // Fields the tracker sets itself; eddy.track() cannot override them.
    var RESERVED = {ts: 1, type: 1, user_id: 1, session_id: 1, event_id: 1, device: 1, ua: 1};

    /** Builds an event of `type` with the page's fields and `fields`, and queues it. */
    function track(type, fields) {
        var event = {ts: Date.now(), type: String(type), url: pageUrl()};
        if (document.referrer) { event.referrer = document.referrer; }
        for (var k in fields) {
            if (Object.prototype.hasOwnProperty.call(fields, k) && fields[k] != null && !RESERVED[k]) {
                event[k] = fields[k];
            }
        }
        event.device = device;
        event.ua = navigator.userAgent;
        event.event_id = randomId(16);
        enqueue(event); // user_id and session_id are stamped when sent, and only with consent
    }

    /** Stamps the ids on events; before consent they carry none, so nothing is read from storage. */
    function stamp(events) {
        for (var i = 0; i < events.length; i++) {
            var e = events[i];
            if (!e.user_id) {
                e.user_id = currentUserId();
                e.session_id = currentSessionId(e.ts);
            }
        }
        return events;
    }

    /** Takes the next batch from the queue: at most batchSize events and MAX_BODY_BYTES. */
    function takeBatch() {
        var n = Math.min(queue.length, config.batchSize);
        var batch = stamp(queue.slice(0, n));
        var body = JSON.stringify(batch);
        while (new Blob([body]).size > MAX_BODY_BYTES && batch.length > 1) { // UTF-8 bytes
            batch.length = Math.ceil(batch.length / 2);
            body = JSON.stringify(batch);
        }
        queue.splice(0, batch.length);
        return {events: batch, body: body};
    }

    function schedule(delayMs) {
        if (consent !== true || inFlight) {
            return; // held until consent; a running send reschedules when it ends
        }
        var due = Math.max(Date.now() + delayMs, retryAt);
        if (timer && timer.due <= due) {
            return;
        }
        clearTimeout(timer && timer.id);
        timer = {due: due, id: setTimeout(function () { timer = null; send(); }, due - Date.now())};
    }

    /** Sends one batch with fetch (keepalive, text/plain: no CORS preflight); retries on failure. */
    function send() {
        if (consent !== true || inFlight || !queue.length) {
            return;
        }
        if (Date.now() < retryAt) {
            schedule(0);
            return;
        }
        var batch = inFlight = takeBatch();
        fetch(config.endpoint, {
            method: 'POST',
            body: batch.body,
            headers: {'Content-Type': 'text/plain;charset=UTF-8'},
            keepalive: true,
            credentials: 'omit',
            mode: 'cors'
        }).then(function (response) {
            var s = response.status;
            if (s === 429 || s >= 500) {
                sent(batch, 'retry', retryAfter(response.headers.get('Retry-After')));
            } else {
                sent(batch, s < 400 ? 'ok' : 'refused'); // a 4xx would fail again
            }
        }, function () {
            sent(batch, 'retry', 0); // network error, or a response without CORS headers
        });
    }

    /** The end of a fetch: `ok`, `refused` (dropped) or `retry` (back in front of the queue). */
    function sent(batch, outcome, retryAfterMs) {
        inFlight = null;
        if (outcome === 'ok') {
            attempts = 0;
            retryAt = 0;
            stats.sent += batch.events.length;
        } else if (outcome === 'refused') {
            stats.dropped += batch.events.length;
        } else {
            // Exponential backoff with jitter (1 s, 2 s, 4 s ... up to a minute), or the
            // server's Retry-After when that is longer (up to ten minutes).
            attempts++;
            stats.retries++;
            var backoff = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * Math.pow(2, attempts - 1));
            backoff = backoff / 2 + Math.random() * backoff / 2;
            retryAt = Date.now() + Math.max(backoff, Math.min(retryAfterMs, 10 * RETRY_MAX_MS));
            if (consent === true) { // not when consent was withdrawn meanwhile
                queue.unshift.apply(queue, batch.events);
                trimQueue();
            }
        }
        if (queue.length) {
            schedule(queue.length >= config.batchSize ? 0 : config.flushMs);
        }
    }

    /** Retry-After (seconds or an HTTP date) in ms; 0 when absent or unreadable. */
    function retryAfter(value) {
        if (!value) { return 0; }
        var ms = /^\d+$/.test(value) ? value * 1000 : Date.parse(value) - Date.now();
        return ms > 0 ? ms : 0;
    }

    /** The page is going away or hidden: hand everything queued to sendBeacon. */
    function beaconAll() {
        if (consent !== true) {
            return;
        }
        clearTimeout(timer && timer.id);
        timer = null;
        while (queue.length) {
            var batch = takeBatch();
            var blob = new Blob([batch.body], {type: 'text/plain;charset=UTF-8'});
            var queued = false;
            try { queued = navigator.sendBeacon(config.endpoint, blob); } catch (e) { /* below */ }
            if (!queued) { // no beacon, or its quota is used up: a keepalive fetch may still go
                try {
                    fetch(config.endpoint, {method: 'POST', body: batch.body, keepalive: true,
                        credentials: 'omit', headers: {'Content-Type': 'text/plain;charset=UTF-8'}})
                        .catch(function () { /* the page is going: nothing left to do */ });
                } catch (e) {
                    stats.dropped += batch.events.length;
                    continue;
                }
            }
            // Handed to the browser, which delivers it after the page is gone; no answer comes back.
            stats.sent += batch.events.length;
        }
    }

    // ---- engagement: scroll depth and visible time ------------------------
    // The deepest point seen and the visible time are reported together, in one
    // `scroll` event each time the page is hidden or left (not at thresholds):
    // scroll_pct is the maximum depth so far (0..1, the bottom of the viewport
    // over the document height), dwell_ms the time the page was visible since
    // the previous report, so a page's dwell_ms values add up to its visible time.
    var maxScroll = 0;
    var reportedScroll = -1;
    var visibleMs = 0;
    var visibleSince = document.visibilityState === 'hidden' ? null : Date.now();

    function measureScroll() {
        var root = document.documentElement;
        var height = Math.max(root.scrollHeight, document.body ? document.body.scrollHeight : 0);
        var seen = (window.scrollY || root.scrollTop || 0) + window.innerHeight;
        var pct = height > 0 ? Math.min(1, seen / height) : 1;
        maxScroll = Math.max(maxScroll, Math.round(pct * 1000) / 1000);
    }

    function reportEngagement() {
        if (visibleSince !== null) {
            visibleMs += Date.now() - visibleSince;
            visibleSince = null;
        }
        measureScroll();
        if (visibleMs > 0 || maxScroll > reportedScroll) {
            track('scroll', {scroll_pct: maxScroll, dwell_ms: Math.round(visibleMs)});
            reportedScroll = maxScroll;
            visibleMs = 0;
        }
    }

    function onHidden() {
        reportEngagement();
        beaconAll();
    }

    window.addEventListener('scroll', measureScroll, {passive: true});
    document.addEventListener('visibilitychange', function () {
        if (document.visibilityState === 'hidden') {
            onHidden();
        } else if (visibleSince === null) {
            visibleSince = Date.now();
        }
    });
    // pagehide also covers navigations where no visibilitychange comes first.
    window.addEventListener('pagehide', onHidden);
    window.addEventListener('pageshow', function (e) {
        if (e.persisted) { // back from the back/forward cache: a new view of the page
            visibleSince = Date.now();
            maxScroll = 0;
            reportedScroll = -1;
            pageView();
        }
    });

    // ---- clicks on marked elements -----------------------------------------
    // <a data-eddy-click data-eddy-item="i42" data-eddy-category="shoes"> sends a
    // click with item_id and category; a non-empty data-eddy-click value is sent as `label`.
    document.addEventListener('click', function (e) {
        var el = e.target && e.target.closest && e.target.closest('[data-eddy-click]');
        if (el) {
            track('click', {
                item_id: el.getAttribute('data-eddy-item'),
                category: el.getAttribute('data-eddy-category'),
                label: el.getAttribute('data-eddy-click') || null
            });
        }
    }, true);

    // ---- the public API ----------------------------------------------------
    function pageView(fields) {
        track('page_view', fields);
    }

    var api = {
        version: '1',
        /** Grants (true) or refuses (false) consent. Refusing drops the queue and forgets the ids. */
        consent: function (granted) {
            if (granted) {
                consent = true;
                schedule(0);
            } else {
                consent = false;
                queue.length = 0;
                clearTimeout(timer && timer.id);
                timer = null;
                userId = null;
                session = null;
                store(UID_KEY, null);
                store(SID_KEY, null);
            }
        },
        track: track,
        pageView: pageView,
        search: function (query, fields) {
            track('search', Object.assign({query: String(query)}, fields));
        },
        addToCart: function (itemId, fields) {
            track('add_to_cart', Object.assign({item_id: String(itemId)}, fields));
        },
        purchase: function (itemId, fields) {
            track('purchase', Object.assign({item_id: String(itemId)}, fields));
        },
        /** Sends what is queued now (fetch), within the retry backoff. */
        flush: function () {
            schedule(0);
        },
        /** Counters for debugging: queued, sent, dropped, retries; and the queue's length. */
        stats: function () {
            return Object.assign({pending: queue.length, consent: consent}, stats);
        }
    };
    window.eddy = api;

    if (config.autoPageView) {
        pageView();
    }
    // Replay calls made before the script loaded, e.g. window.eddy = {q: [['consent', true]]}.
    if (pending && Array.isArray(pending.q)) {
        pending.q.forEach(function (call) {
            if (call && typeof api[call[0]] === 'function') {
                api[call[0]].apply(api, Array.prototype.slice.call(call, 1));
            }
        });
    }
    window.dispatchEvent(new Event('eddy:ready'));
})();
