// cinder.js: the browser side of Cinder live views.
//
// Served by the binary at /assets/cinder.js; no build step and no dependencies, so running Cinder
// never needs Node. It follows tests/js/CONTRACT.md: a minimal Phoenix Channels V2 socket, one
// join of the page's `lv:<path>` topic, patch ops applied by element id, and delegated form and
// button events. Everything here is an enhancement: without this script (or before its first
// join) every form still works as a plain POST with a redirect. Once joined, a page never falls
// back to a POST: while the connection is down a banner says so, forms keep what was typed, a
// submitted form waits and is sent on reconnecting, and a click is shown as not sent.
(function () {
  "use strict";

  var PUSH_TIMEOUT_MS = 10000;      // pending controls come back after this even with no reply
  var HEARTBEAT_MS = 30000;         // the server closes connections that are silent for 60 s
  var BACKOFF_MS = [1000, 2000, 5000]; // then every 5 s: gentle on a restarting server
  var BANNER_DELAY_MS = 400;        // a rejoin quicker than this shows no banner
  var BACK_ONLINE_MS = 2500;        // how long "Back online" stays
  var FLASH_MS = 4000;              // how long a success message stays

  // ---- local time ---------------------------------------------------------------------------
  //
  // The server writes <time datetime="…Z" data-cinder-time="time|minute|second"> with the UTC
  // time as its text ("14:41 UTC"); here it becomes the time in the browser's zone and language,
  // with the full date, time and zone as its title. "time" adds the date when it is not today.

  var TIME_FORMATS = {
    time: { hour: "2-digit", minute: "2-digit" },
    day: { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" },
    minute: { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" },
    second: { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit" }
  };
  var formatters = {};

  function format(style, date) {
    if (!formatters[style]) formatters[style] = new Intl.DateTimeFormat(undefined, TIME_FORMATS[style]);
    return formatters[style].format(date);
  }

  function localizeTimes(root) {
    if (typeof Intl === "undefined" || !root || !root.querySelectorAll) return;
    var today = new Date().toDateString();
    root.querySelectorAll("time[data-cinder-time]").forEach(function (t) {
      var at = t.getAttribute("datetime");
      if (t.getAttribute("data-cinder-local") === at) return; // done already
      var date = new Date(at);
      var style = t.getAttribute("data-cinder-time");
      if (isNaN(date.getTime()) || !TIME_FORMATS[style]) return;
      if (style === "time" && date.toDateString() !== today) style = "day";
      try {
        t.textContent = format(style, date);
        if (!formatters.full) {
          formatters.full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
        }
        t.title = formatters.full.format(date);
      } catch (e) { return; } // an old browser: the UTC text stays, which says so
      t.setAttribute("data-cinder-local", at);
    });
  }

  function start() {
    localizeTimes(document);
    if (!("WebSocket" in window)) return;
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
      "/socket/websocket?vsn=2.0.0";

    var topic = null;         // the shown page's `lv:<path>`, null on a page that is not live
    var token = "";           // its join token
    var at = null;            // the log position the page's content reflects (see join)

    var ws = null;            // the current WebSocket, null while disconnected
    var refCounter = 0;       // refs are strings, as the official client sends them
    var joinRef = null;       // join_ref of our current join; frames of older joins are stale
    var joined = false;
    var tries = 0;            // failed attempts since the last good join, indexes BACKOFF_MS
    var retryTimer = null;    // one timer for both reconnect and rejoin
    var heartbeatTimer = null;
    var heartbeatRef = null;  // ref of the heartbeat still waiting for its reply
    var pending = {};         // ref -> {done: fn(reply or null), timer}
    var replacing = false;    // true while a patch swaps elements (see replaceKeepingFocus)
    var everJoined = false;   // after the first join, forms never fall back to a plain POST
    var queued = [];          // submits made while disconnected: [{form, name, value}]
    var retryAt = 0;          // when the next connection attempt is due (for the banner)

    function nextRef() { refCounter += 1; return String(refCounter); }

    // Tests and styles read this attribute; "false" also tells them the script is running.
    // `quiet`: not a lost connection but a page being left for another (live navigation).
    function setJoined(value, quiet) {
      var was = joined;
      joined = value;
      document.documentElement.dataset.cinderConnected = value ? "true" : "false";
      if (value) everJoined = true;
      if (!quiet && (value !== was || !value)) showConnection();
    }

    function send(frame) {
      if (!ws || ws.readyState !== 1) return false;
      ws.send(JSON.stringify(frame));
      return true;
    }

    // Sends an event on our topic. `done` is called exactly once: with the reply payload, or with
    // null on timeout or when the connection drops (its reply can then never arrive).
    function push(event, payload, done) {
      var ref = nextRef();
      if (!send([joinRef, ref, topic, event, payload])) { done(null); return; }
      pending[ref] = {
        done: done,
        timer: setTimeout(function () { settle(ref, null); }, PUSH_TIMEOUT_MS)
      };
    }

    function settle(ref, reply) {
      var p = pending[ref];
      if (!p) return;
      delete pending[ref];
      clearTimeout(p.timer);
      p.done(reply);
    }

    function backoff() {
      var ms = BACKOFF_MS[Math.min(tries, BACKOFF_MS.length - 1)];
      tries += 1;
      return ms;
    }

    // ---- connection -------------------------------------------------------------------------

    function connect() {
      clearTimeout(retryTimer);
      var sock;
      try { sock = new WebSocket(url); } catch (e) { reconnectLater(); return; }
      ws = sock;
      // Every handler checks it still belongs to the current socket: a replaced socket can
      // still fire events while it closes.
      sock.onopen = function () { if (ws === sock) { startHeartbeat(); join(); } };
      sock.onmessage = function (e) { if (ws === sock) onFrame(e.data); };
      sock.onclose = function () { if (ws === sock) lost(); };
    }

    // The connection is gone (closed, or declared dead): forget it and try again later.
    function lost() {
      var sock = ws;
      ws = null;
      stopHeartbeat();
      setJoined(false);
      Object.keys(pending).forEach(function (ref) { settle(ref, null); });
      if (sock) { sock.onclose = null; try { sock.close(); } catch (e) { /* already closed */ } }
      if (topic) reconnectLater(); // a page that is not live connects when one is shown
    }

    function reconnectLater() {
      clearTimeout(retryTimer);
      var ms = backoff();
      retryAt = Date.now() + ms;
      retryTimer = setTimeout(connect, ms);
      showConnection();
    }

    // ---- the connection banner -------------------------------------------------------------
    //
    // One element for the whole page, role=status so screen readers hear it change: shown while
    // a page that was live is disconnected ("Reconnecting…", with "Retry now"), then "Back
    // online" for a moment. A rejoin quicker than BANNER_DELAY_MS shows nothing.

    var banner = null, bannerText = null, bannerTimer = null, bannerTick = null;

    function bannerElement() {
      if (banner) return banner;
      banner = document.createElement("div");
      banner.id = "cinder-status";
      banner.className = "cinder-status";
      banner.setAttribute("role", "status");
      banner.hidden = true;
      bannerText = document.createElement("span");
      var retry = document.createElement("button");
      retry.type = "button";
      retry.className = "secondary";
      retry.textContent = "Retry now";
      retry.addEventListener("click", function () {
        tries = 0;
        if (!ws) connect(); else if (!joined) join();
      });
      banner.appendChild(bannerText);
      banner.appendChild(retry);
      document.body.appendChild(banner);
      return banner;
    }

    function showConnection() {
      if (!everJoined) return;
      clearTimeout(bannerTimer);
      clearInterval(bannerTick);
      var el = bannerElement();
      if (!topic) { el.hidden = true; return; } // a page that is not live has nothing to lose
      if (joined) {
        if (el.hidden) return;
        el.dataset.state = "online";
        bannerText.textContent = "Back online.";
        bannerTimer = setTimeout(function () { el.hidden = true; }, BACK_ONLINE_MS);
        return;
      }
      var update = function () {
        var secs = Math.ceil((retryAt - Date.now()) / 1000);
        el.dataset.state = "offline";
        bannerText.textContent = "Connection lost. " +
          (ws || secs <= 0 ? "Reconnecting…" : "Reconnecting in " + secs + " s…") +
          (queued.length ? " What you sent will go out once it is back." : "");
      };
      var reveal = function () { update(); el.hidden = false; bannerTick = setInterval(update, 1000); };
      if (el.hidden) bannerTimer = setTimeout(reveal, BANNER_DELAY_MS);
      else reveal();
    }

    // ---- flash: success messages --------------------------------------------------------------

    var toast = null, toastTimer = null;

    // A success: the page's error slot ([data-cinder-flash]) is cleared (an error stays only
    // until the next success) and the server's message, if it sent one, shows for a moment.
    function flashSuccess(text) {
      var slot = pageFlash();
      if (slot) slot.textContent = "";
      if (text) showToast(text, false);
      else if (toast && toast.classList.contains("error")) toast.hidden = true;
    }

    // The message at the foot of the page: role=status for successes, alert for errors.
    function showToast(text, isError) {
      if (!toast) {
        toast = document.createElement("div");
        toast.id = "cinder-flash";
        toast.className = "cinder-flash";
        document.body.appendChild(toast);
      }
      toast.setAttribute("role", isError ? "alert" : "status");
      toast.classList.toggle("error", isError);
      toast.textContent = text;
      toast.hidden = false;
      clearTimeout(toastTimer);
      toastTimer = setTimeout(function () { toast.hidden = true; }, FLASH_MS);
    }

    function pageFlash() {
      var root = document.getElementById("cinder-root");
      return root && (root.matches("[data-cinder-flash]") ? root
        : root.querySelector("[data-cinder-flash]"));
    }

    function startHeartbeat() {
      stopHeartbeat();
      heartbeatTimer = setInterval(function () {
        // No reply to the previous heartbeat in 30 s: the connection is half-dead, and a clean
        // close could take long to be noticed, so drop it now.
        if (heartbeatRef) { lost(); return; }
        heartbeatRef = nextRef();
        send([null, heartbeatRef, "phoenix", "heartbeat", {}]);
      }, HEARTBEAT_MS);
    }

    function stopHeartbeat() {
      clearInterval(heartbeatTimer);
      heartbeatTimer = null;
      heartbeatRef = null;
    }

    // Joining (and rejoining) sends the same token and the log position the page's content
    // reflects (`at`: from the page, then from the join reply and each patch). The reply brings
    // what changed since, or every region when the server cannot tell (too far behind, another
    // node that started later), so pushes missed while disconnected heal here.
    function join() {
      clearTimeout(retryTimer);
      if (!topic) return;
      if (joinRef && pending[joinRef]) { // a join still waiting is superseded, not retried twice
        clearTimeout(pending[joinRef].timer);
        delete pending[joinRef];
      }
      joinRef = nextRef();
      var ref = joinRef;
      var payload = { token: token };
      if (at) payload.at = at;
      if (!send([ref, ref, topic, "phx_join", payload])) return;
      pending[ref] = {
        done: onJoinReply,
        timer: setTimeout(function () { settle(ref, null); }, PUSH_TIMEOUT_MS)
      };
    }

    function onJoinReply(reply) {
      if (!ws) return; // the connection dropped; reconnecting rejoins
      if (reply && reply.status === "ok") {
        tries = 0;
        forgetReload();
        var response = reply.response || {};
        applyOps(response.patches);
        if (typeof response.at === "string") at = response.at;
        setJoined(true);
        sendQueued();
        return;
      }
      var reason = reply && reply.response && reply.response.reason;
      // A bad or old token cannot get better by retrying, but a fresh page carries a new one.
      if ((reason === "invalid token" || reason === "expired token") && reloadOnce()) return;
      rejoinLater();
    }

    function rejoinLater() {
      setJoined(false);
      clearTimeout(retryTimer);
      retryTimer = setTimeout(function () { if (ws && ws.readyState === 1) join(); }, backoff());
    }

    // sessionStorage keeps the guard across the reload, so a page whose fresh token is refused
    // too does not reload forever; a good join clears it.
    function reloadOnce() {
      try {
        if (sessionStorage.getItem(reloadGuard())) return false;
        sessionStorage.setItem(reloadGuard(), "1");
      } catch (e) { return false; } // no storage: no way to guard against a loop
      location.reload();
      return true;
    }

    function forgetReload() {
      try { sessionStorage.removeItem(reloadGuard()); } catch (e) { /* no storage */ }
    }

    function reloadGuard() { return "cinder:reloaded:" + location.pathname; }

    function onFrame(data) {
      var frame;
      try { frame = JSON.parse(data); } catch (e) { return; }
      if (!Array.isArray(frame) || frame.length !== 5) return;
      var fJoinRef = frame[0], ref = frame[1], fTopic = frame[2], event = frame[3];
      var payload = frame[4] || {};
      if (event === "phx_reply") {
        if (ref !== null && ref === heartbeatRef) { heartbeatRef = null; return; }
        if (ref !== null && pending[ref]) settle(ref, payload);
        return;
      }
      if (fTopic !== topic) return;
      // Frames of an earlier join of this topic (e.g. the phx_close the server sends for the old
      // channel when we rejoin) must not disturb the current one.
      if (fJoinRef !== null && fJoinRef !== undefined && fJoinRef !== joinRef) return;
      if (event === "patch") {
        applyOps(payload.ops);
        if (typeof payload.at === "string") at = payload.at;
      } else if (event === "phx_error" || event === "phx_close") {
        rejoinLater();
      }
    }

    // ---- patches ----------------------------------------------------------------------------

    // The server's html is the only markup we ever insert. A <template> parses it inertly:
    // no scripts run and nothing loads until it is in the document.
    function parse(html) {
      var t = document.createElement("template");
      t.innerHTML = html || "";
      return t.content;
    }

    function applyOps(ops) {
      if (!Array.isArray(ops) || ops.length === 0) return;
      // Remember which "stick to bottom" scrollers are at the bottom before the content grows.
      var sticky = [];
      document.querySelectorAll('[data-cinder-scroll="bottom"]').forEach(function (el) {
        if (el.scrollHeight - el.scrollTop - el.clientHeight < 4) sticky.push(el.id || el);
      });
      ops.forEach(function (op) {
        var target = op && op.id ? document.getElementById(op.id) : null;
        if (!target) return; // ops naming ids not on this page are ignored
        if (op.op === "replace") replaceKeepingFocus(target, parse(op.html));
        else if (op.op === "append" || op.op === "prepend") insert(target, op);
        else if (op.op === "remove") target.remove();
      });
      localizeTimes(document.getElementById("cinder-root"));
      sticky.forEach(function (idOrEl) {
        var el = typeof idOrEl === "string" ? document.getElementById(idOrEl) : idOrEl;
        if (el && el.isConnected) el.scrollTop = el.scrollHeight;
      });
    }

    function insert(parent, op) {
      var atStart = op.op === "prepend";
      var fresh = document.createDocumentFragment();
      Array.prototype.slice.call(parse(op.html).children).forEach(function (el) {
        // An element this list already shows (a message both in a reply and in a broadcast, or
        // re-sent after a rejoin) is updated in place rather than shown twice, keeping the nodes
        // that did not change (see morph). Only this list's own children count: the same item
        // may rightly show in another list of the page.
        var old = el.id ? childWithId(parent, el.id) : null;
        if (old) morph(old, el, document.activeElement);
        else fresh.appendChild(el);
      });
      // Inserted in one go, so prepended elements keep their order.
      parent.insertBefore(fresh, atStart ? parent.firstChild : null);
      if (typeof op.limit === "number" && op.limit >= 0) {
        while (parent.children.length > op.limit) {
          (atStart ? parent.lastElementChild : parent.firstElementChild).remove();
        }
      }
    }

    function childWithId(parent, id) {
      for (var c = parent.firstElementChild; c; c = c.nextElementSibling) {
        if (c.id === id) return c;
      }
      return null;
    }

    // Replacing a region must not take the caret away from someone typing in it: like LiveView,
    // the focused field keeps its focus, value and selection, and an item being edited in place
    // (see data-cinder-dblclick) stays in edit mode. A field whose form is waiting for the reply
    // to its own push is not kept: it was just sent, and the server's render is the answer.
    function replaceKeepingFocus(target, fragment) {
      var a = document.activeElement;
      var sent = !!(a && a.form && a.form.getAttribute("aria-busy") === "true");
      var keep = a && a !== document.body && !sent && target.contains(a) && (a.id || a.name) ? {
        // getAttribute, not .id: a form's field named "id" would shadow the form's id.
        id: a.id, name: a.name, form: a.form && a.form.getAttribute("id"), value: a.value,
        start: a.selectionStart, end: a.selectionEnd
      } : null;
      var unit = keep && a.closest("[data-cinder-dblclick]");
      var mode = unit && unit.id && target.contains(unit) && unit.getAttribute("data-cinder-dblclick");
      if (mode && unit.classList.contains(mode)) keep.mode = { id: unit.id, cls: mode };
      replacing = true; // a field losing focus because it left the page is not a user's blur
      try { target.replaceWith(fragment); } finally { replacing = false; }
      if (!keep) return;
      if (keep.mode) {
        var u = document.getElementById(keep.mode.id);
        if (u) u.classList.add(keep.mode.cls);
      }
      var form = keep.form && document.getElementById(keep.form);
      var el = (keep.id && document.getElementById(keep.id)) ||
        (form && keep.name && form.elements.namedItem(keep.name));
      if (!el || typeof el.focus !== "function") return;
      if (typeof keep.value === "string" && "value" in el) el.value = keep.value;
      el.focus();
      try { el.setSelectionRange(keep.start, keep.end); } catch (e) { /* not a text field */ }
    }

    // ---- events from the page ---------------------------------------------------------------

    function inRoot(el) { return !!(el && el.closest && el.closest("#cinder-root")); }

    // Disables the controls of a pending push; returns the function that re-enables them. Only
    // controls we disabled are re-enabled, so server-disabled buttons stay disabled.
    function busy(form, button) {
      var controls = form
        ? Array.prototype.slice.call(form.querySelectorAll("button, input[type=submit]"))
        : [button];
      var mine = controls.filter(function (c) { return !c.disabled; });
      mine.forEach(function (c) { c.disabled = true; });
      (form || button).setAttribute("aria-busy", "true");
      return function () {
        mine.forEach(function (c) { c.disabled = false; });
        (form || button).removeAttribute("aria-busy");
      };
    }

    // A click's refusal: in the page's error slot, or (a page without one) as the flash.
    function clickError(text) {
      var slot = pageFlash();
      if (slot) slot.textContent = text;
      else showToast(text, true);
    }

    // Error replies carry either {errors: {field: [messages]}} or {reason: "..."}.
    function errorText(reply) {
      if (!reply) return "No reply from the server. Please try again.";
      var r = reply.response || {};
      var texts = [];
      // `message` is the server's sentence for people; `errors` is per field, for programs.
      if (typeof r.message === "string" && r.message) {
        texts.push(r.message);
      } else if (r.errors && typeof r.errors === "object") {
        Object.keys(r.errors).forEach(function (k) { texts = texts.concat(r.errors[k]); });
      } else if (r.reason) {
        texts.push(r.reason);
      }
      return texts.length ? texts.join(" ") : "Something went wrong. Please try again.";
    }

    function formErrorElement(form) {
      var el = form.querySelector("[data-cinder-error]");
      if (!el) {
        el = document.createElement("p");
        el.className = "error";
        el.setAttribute("data-cinder-error", "");
        el.setAttribute("role", "alert");
        form.appendChild(el);
      }
      return el;
    }

    function firstTextInput(form) {
      return form.querySelector("textarea:not([disabled]), input:not([type]):not([disabled])," +
        "input[type=text]:not([disabled]), input[type=search]:not([disabled])," +
        "input[type=email]:not([disabled]), input[type=url]:not([disabled])");
    }

    // Submits made while disconnected, sent in order once the page is joined again (each form
    // once: submitting it again while waiting replaces what it sends).
    function sendQueued() {
      var waiting = queued;
      queued = [];
      waiting.forEach(function (q) {
        var form = q.form.isConnected ? q.form : (q.formId && document.getElementById(q.formId));
        if (!form) return;
        form.removeAttribute("data-cinder-queued");
        pushSubmit(form, q.name, q.value);
      });
    }

    function queue(form, name, value) {
      queued = queued.filter(function (q) { return q.form !== form; });
      queued.push({ form: form, formId: form.getAttribute("id"), name: name, value: value });
      form.setAttribute("data-cinder-queued", "");
      var err = formErrorElement(form);
      err.textContent = "Not sent yet: no connection. It will be sent when the connection is back.";
      err.classList.add("queued");
      showConnection();
    }

    function formValue(form, submitter) {
      // Collect before disabling: disabled controls (and so the submitter) drop out of FormData.
      var data;
      try { data = new FormData(form, submitter); } catch (err) { data = new FormData(form); }
      var value = {};
      data.forEach(function (v, k) { if (typeof v === "string") value[k] = v; }); // files skipped
      return value;
    }

    document.addEventListener("submit", function (e) {
      var form = e.target;
      if (!form || !form.getAttribute || !inRoot(form) || e.defaultPrevented) return;
      var name = form.getAttribute("data-cinder-submit");
      var post = (form.getAttribute("method") || "get").toLowerCase() === "post";
      // Before the first join: let the browser POST the form, which works without us.
      if (!joined && !everJoined) return;
      if (!name) {
        // A plain form of a live page (a GET, say) goes its way, unless it would post while
        // the server cannot be reached: then it stays, with what was typed.
        if (post && !joined) {
          e.preventDefault();
          formErrorElement(form).textContent = "Not sent: no connection to the server. " +
            "Try again once it is back.";
        }
        return;
      }
      e.preventDefault();
      if (form.getAttribute("aria-busy") === "true") return;
      var value = formValue(form, e.submitter);
      if (!joined) { queue(form, name, value); return; }
      pushSubmit(form, name, value);
    });

    function pushSubmit(form, name, value) {
      var formId = form.getAttribute("id"); // not form.id, which a field named "id" shadows
      var err0 = form.querySelector("[data-cinder-error]");
      if (err0) err0.classList.remove("queued");
      var done = busy(form, null);
      push("event", { type: "submit", event: name, value: value }, function (reply) {
        done();
        // The reply's patches may replace the form itself; find its successor by id.
        if (!form.isConnected && formId) form = document.getElementById(formId) || form;
        if (reply && reply.status === "ok") {
          var response = reply.response || {};
          applyOps(response.patches);
          flashSuccess(response.flash);
          if (!form.isConnected && formId) form = document.getElementById(formId) || form;
          if (!form.hasAttribute("data-cinder-keep")) form.reset();
          else form.querySelectorAll("[data-cinder-clear]").forEach(function (f) { f.value = ""; });
          var err = form.querySelector("[data-cinder-error]");
          if (err) err.textContent = "";
          form.cinderTouched = {};
          showFieldErrors(form, {}, true);
          // Saved: an item edited in place leaves edit mode (see data-cinder-dblclick).
          var item = form.closest("[data-cinder-dblclick]");
          var mode = item && item.getAttribute("data-cinder-dblclick");
          if (mode && item.classList.contains(mode)) { item.classList.remove(mode); return; }
          // Keep the caret in the form, ready for the next message, unless the user moved on.
          var a = document.activeElement;
          var input = firstTextInput(form);
          if (input && (!a || a === document.body || form.contains(a))) input.focus();
        } else if (!reply && !joined) {
          // The connection dropped before the reply: whether it was done is unknown, and
          // sending it again could do it twice. Say so; what was typed is still there.
          formErrorElement(form).textContent = "The connection dropped before an answer came: " +
            "check whether it went through, then send it again.";
        } else {
          var r = (reply && reply.response) || {};
          if (reply) applyOps(r.patches);
          // Each refusal by its field; what no field of the form can show, by the form.
          var rest = r.errors && typeof r.errors === "object" ? showFieldErrors(form, r.errors, true) : [];
          var text = !reply || !r.errors ? errorText(reply) : rest.join(" ");
          formErrorElement(form).textContent = text; // text, never HTML
        }
      });
    }

    // ---- validation as you type --------------------------------------------------------------
    //
    // A form with data-cinder-validate asks the server, as it is filled in (debounced), what its
    // fields break: the view runs the same domain rules as on submit and answers
    // {errors: {field: [messages]}}, shown by each field the visitor has already touched (every
    // field once the form was submitted). No rule is written here.

    var VALIDATE_MS = 300;

    function validating(field) {
      var form = field && field.form;
      return form && field.name && form.hasAttribute("data-cinder-validate") && inRoot(form) ? form : null;
    }

    document.addEventListener("input", function (e) {
      var form = validating(e.target);
      if (!form) return;
      (form.cinderTouched = form.cinderTouched || {})[e.target.name] = true;
      clearTimeout(form.cinderValidateTimer);
      form.cinderValidateTimer = setTimeout(function () { validate(form); }, VALIDATE_MS);
    });

    document.addEventListener("change", function (e) {
      var form = validating(e.target);
      if (!form || replacing) return;
      (form.cinderTouched = form.cinderTouched || {})[e.target.name] = true;
      clearTimeout(form.cinderValidateTimer);
      validate(form);
    });

    function validate(form) {
      if (!joined || !form.isConnected || form.getAttribute("aria-busy") === "true") return;
      var name = form.getAttribute("data-cinder-validate") || form.getAttribute("data-cinder-submit");
      var seq = (form.cinderValidateSeq || 0) + 1;
      form.cinderValidateSeq = seq;
      push("event", { type: "validate", event: name, value: formValue(form, null) }, function (reply) {
        // Shown once no button is held down (see whenReleased), and only if it is still the
        // answer to the latest question: a submit since then has its own.
        whenReleased(function () {
          if (seq !== form.cinderValidateSeq || !reply || reply.status !== "ok") return;
          if (form.getAttribute("aria-busy") === "true") return;
          showFieldErrors(form, (reply.response || {}).errors || {}, false);
        });
      });
    }

    // Pressing a button takes the focus from the field just typed in, which asks for its
    // validation; an answer shown between the press and the release could move the button away
    // from the pointer (an error line appears or goes above it), and then no click happens.
    // Error slots keep their line (cinder.css), but a message may take two; so answers wait for
    // the release, and for the click it makes (a task later); at most HOLD_MS, in case the
    // release is never seen.
    var HOLD_MS = 3000;
    var held = false;
    var heldTimer = null;
    var onRelease = [];

    function whenReleased(fn) {
      if (held) onRelease.push(fn);
      else fn();
    }

    function released() {
      if (!held) return;
      held = false;
      clearTimeout(heldTimer);
      var waiting = onRelease;
      onRelease = [];
      setTimeout(function () { waiting.forEach(function (fn) { fn(); }); }, 0);
    }

    document.addEventListener("pointerdown", function () {
      held = true;
      clearTimeout(heldTimer);
      heldTimer = setTimeout(released, HOLD_MS);
    }, true);
    document.addEventListener("pointerup", released, true);
    document.addEventListener("pointercancel", released, true);

    // Shows `errors` by their fields (only touched ones unless `all`) and clears the others.
    // Returns the messages of fields this form has no place for.
    function showFieldErrors(form, errors, all) {
      if (all) form.cinderValidateSeq = (form.cinderValidateSeq || 0) + 1; // older answers are stale
      var touched = form.cinderTouched || {};
      form.querySelectorAll("[data-cinder-error-for]").forEach(function (el) {
        var name = el.getAttribute("data-cinder-error-for");
        if (!errors[name] || !(all || touched[name])) setFieldError(form, name, "");
      });
      var rest = [];
      Object.keys(errors).forEach(function (name) {
        var messages = [].concat(errors[name]).join(" ");
        if (!(all || touched[name])) return;
        if (all) touched[name] = true;
        if (!setFieldError(form, name, messages)) rest.push(messages);
      });
      if (all) form.cinderTouched = touched;
      return rest;
    }

    // The error slot of field `name`: made (after the field, in its .field wrapper) when first
    // needed, named by the field's aria-describedby. Returns false if the form has no such field.
    function setFieldError(form, name, text) {
      var field = form.elements.namedItem(name);
      if (field && !field.tagName && field.length) field = field[0]; // radio buttons and the like
      var el = null;
      form.querySelectorAll("[data-cinder-error-for]").forEach(function (e) {
        if (e.getAttribute("data-cinder-error-for") === name) el = e;
      });
      if (!text) {
        if (el) el.textContent = "";
        if (field && field.removeAttribute) field.removeAttribute("aria-invalid");
        return true;
      }
      if (!field || !field.tagName || field.type === "hidden") return false;
      if (!el) {
        el = document.createElement("p");
        el.className = "field-error";
        el.setAttribute("data-cinder-error-for", name);
        el.id = (form.getAttribute("id") || "form") + "-" + name + "-error";
        var wrap = field.closest(".field");
        if (wrap && form.contains(wrap)) wrap.appendChild(el);
        else field.insertAdjacentElement("afterend", el);
        var described = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
        if (described.indexOf(el.id) < 0) described.push(el.id);
        field.setAttribute("aria-describedby", described.join(" "));
      }
      el.textContent = text; // text, never HTML
      field.setAttribute("aria-invalid", "true");
      return true;
    }

    document.addEventListener("click", function (e) {
      var button = e.target && e.target.closest && e.target.closest("[data-cinder-click]");
      if (!button || !inRoot(button) || e.defaultPrevented) return;
      if (!joined && !everJoined) return; // before the first join: the plain form post
      e.preventDefault();
      if (button.disabled || button.getAttribute("aria-busy") === "true") return;
      if (!joined) {
        // A click is not queued (it may not mean the same later): it is said not to be sent.
        clickError("Not sent: no connection to the server. Try again once it is back.");
        return;
      }
      var value = "value" in button ? button.value : (button.getAttribute("value") || "");
      var done = busy(null, button);
      push("event", {
        type: "click", event: button.getAttribute("data-cinder-click"), value: { value: value }
      }, function (reply) {
        done();
        if (reply) applyOps((reply.response || {}).patches);
        if (reply && reply.status === "ok") { flashSuccess((reply.response || {}).flash); return; }
        clickError(errorText(reply));
      });
    });

    // ---- editing in place ---------------------------------------------------------------------
    //
    // Generic attributes for editing an item where it is shown (TodoMVC's double-click to edit).
    // They need no server support: the form inside is an ordinary data-cinder-submit form (a
    // plain POST when not joined), and an ok reply to it ends the mode. A patch from elsewhere
    // that replaces the item while its field has focus keeps the mode and what was typed.
    //
    // data-cinder-dblclick="CLASS" on an element (the item): a double-click on it, but not on a
    //   button, link or field inside it, adds CLASS to it and focuses its first
    //   [data-cinder-escape] field (else its first text field) with the caret at the end. Styles
    //   decide what CLASS shows (say, the edit field instead of the label).
    // data-cinder-escape on a field: Escape puts back the value the server rendered, clears the
    //   form's error, leaves the field without submitting, and removes the item's CLASS.
    // data-cinder-blur="submit" on a field: leaving the field submits its form if the value
    //   changed (an edit is saved on blur, as in TodoMVC); unchanged, it is cancelled as by
    //   Escape. Not while the form's own push is pending, nor when the field leaves the page.

    var EDIT_CONTROLS = "button, a, input, select, textarea";

    document.addEventListener("dblclick", function (e) {
      var t = e.target;
      var item = t && t.closest && t.closest("[data-cinder-dblclick]");
      if (!item || !inRoot(item)) return;
      var control = t.closest(EDIT_CONTROLS);
      if (control && item.contains(control)) return;
      var cls = item.getAttribute("data-cinder-dblclick");
      if (!cls) return;
      item.classList.add(cls);
      var field = item.querySelector("[data-cinder-escape]") || firstTextInput(item);
      if (!field) return;
      field.focus();
      try { field.setSelectionRange(field.value.length, field.value.length); } catch (err) { /* not text */ }
    });

    // Leaves edit mode: the rendered value back, no error, no focus, no CLASS.
    function cancelEdit(field) {
      field.value = field.defaultValue;
      var err = field.form && field.form.querySelector("[data-cinder-error]");
      if (err) err.textContent = "";
      if (document.activeElement === field) {
        field.cinderCancelling = true; // the blur that follows must not submit
        try { field.blur(); } finally { field.cinderCancelling = false; }
      }
      var item = field.closest("[data-cinder-dblclick]");
      var cls = item && item.getAttribute("data-cinder-dblclick");
      if (cls) item.classList.remove(cls);
    }

    document.addEventListener("keydown", function (e) {
      var field = e.target;
      if (e.key !== "Escape" || !field || !field.matches || !field.matches("[data-cinder-escape]")) return;
      if (!inRoot(field)) return;
      e.preventDefault();
      cancelEdit(field);
    });

    // focusout, unlike blur, bubbles, so one listener serves every field.
    document.addEventListener("focusout", function (e) {
      var field = e.target;
      if (!field || !field.matches || !field.matches('[data-cinder-blur="submit"]')) return;
      if (replacing || field.cinderCancelling || !field.isConnected || !inRoot(field)) return;
      var form = field.form;
      if (!form || form.getAttribute("aria-busy") === "true") return;
      if (field.value === field.defaultValue) { cancelEdit(field); return; }
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.dispatchEvent(new Event("submit", { cancelable: true, bubbles: true }));
    });

    // ---- live navigation ----------------------------------------------------------------------
    //
    // A click on a link to another of our pages (or a GET form's submit) does not load a new
    // document: the page is fetched, its <main> takes the place of ours, the URL and title
    // follow (History API), and the socket, left open, leaves the old view and joins the new
    // one. Back and Forward do the same from the URL. A change of only the query string
    // (filters, paging) patches the page in place: elements that did not change stay as they
    // are, with their focus and state. Anything we cannot show this way (a file, another site,
    // an error) is loaded by the browser as usual, and without this script every link is a
    // plain link. `data-cinder-nav="off"` on a link or form opts it out.

    var NON_PAGES = /^\/(api|socket|assets|metrics|healthz|readyz)(\/|$)|\.[A-Za-z0-9]+$/;
    var navSeq = 0;           // only the latest navigation may swap the page
    var shown = location.pathname + location.search; // the page on screen

    // The URL of `href` if following it is a navigation between our pages, else null.
    function navigable(href, el) {
      if (!href || !window.history || !history.pushState || !window.fetch || !window.DOMParser) return null;
      if (el && el.closest && el.closest('[data-cinder-nav="off"]')) return null;
      var to;
      try { to = new URL(href, location.href); } catch (e) { return null; }
      if (to.origin !== location.origin || NON_PAGES.test(to.pathname)) return null;
      // A jump within the page (#section) is the browser's.
      if (to.hash && to.pathname === location.pathname && to.search === location.search) return null;
      return to;
    }

    document.addEventListener("click", function (e) {
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      var a = e.target && e.target.closest && e.target.closest("a[href]");
      if (!a || (a.target && a.target !== "_self") || a.hasAttribute("download")) return;
      if (a.closest("[data-cinder-click]")) return;
      var to = navigable(a.getAttribute("href"), a);
      if (!to) return;
      e.preventDefault();
      navigate(to.href, "push");
    });

    // A GET form (the lobby's "open room", a filter) is a link whose query the visitor typed.
    document.addEventListener("submit", function (e) {
      var form = e.target;
      if (e.defaultPrevented || !form || !form.getAttribute || form.hasAttribute("data-cinder-submit")) return;
      if ((form.getAttribute("method") || "get").toLowerCase() !== "get") return;
      if (form.getAttribute("target")) return;
      var to = navigable(form.getAttribute("action") || location.pathname, form);
      if (!to) return;
      var query = new URLSearchParams();
      var data;
      try { data = new FormData(form, e.submitter); } catch (err) { data = new FormData(form); }
      data.forEach(function (v, k) { if (typeof v === "string") query.append(k, v); });
      to.search = query.toString();
      to.hash = "";
      e.preventDefault();
      navigate(to.href, "push");
    });

    window.addEventListener("popstate", function () {
      if (location.pathname + location.search === shown) return; // only the #hash moved
      navigate(location.href, "pop");
    });

    // Fetches `href` and shows it: "push" adds a history entry, "pop" follows one (Back).
    function navigate(href, mode) {
      var seq = ++navSeq;
      var main = document.querySelector("body > main");
      if (main) main.setAttribute("aria-busy", "true");
      var done = function () { var m = document.querySelector("body > main"); if (m) m.removeAttribute("aria-busy"); };
      fetch(href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (res) {
          var type = res.headers.get("content-type") || "";
          if (type.indexOf("text/html") !== 0 || res.status === 401) throw new Error("not a page");
          return res.text().then(function (html) { return { url: res.url || href, html: html }; });
        }, function (err) {
          err.offline = true; // the server could not be reached at all
          throw err;
        })
        .then(function (got) {
          if (seq !== navSeq) return;
          done();
          var doc = new DOMParser().parseFromString(got.html, "text/html");
          var fresh = doc.querySelector("body > main");
          if (!fresh || !document.querySelector("body > main")) throw new Error("not one of our pages");
          show(doc, fresh, got.url, mode);
        })
        .catch(function (err) {
          if (seq !== navSeq) return;
          done();
          if (err && err.offline && everJoined && mode === "push") {
            showToast("Could not open that page: no connection to the server.", true);
            return;
          }
          location.assign(href);
        });
    }

    function show(doc, fresh, href, mode) {
      var to = new URL(href, location.href);
      var samePage = to.pathname === location.pathname;
      if (mode === "push") {
        remember();
        history.pushState({ cinder: true, scroll: 0 }, "", to.href);
      }
      shown = location.pathname + location.search;
      document.title = doc.title;
      leave();
      var main = document.querySelector("body > main");
      fresh = document.adoptNode(fresh);
      if (samePage && main.id === fresh.id) {
        // What is being typed stays, unless the visitor went Back: then the page is as it was.
        morph(main, fresh, mode === "pop" ? null : document.activeElement);
      } else {
        replacing = true; // fields leaving the page are not blurred by the visitor
        try { main.replaceWith(fresh); } finally { replacing = false; }
        var first = fresh.querySelector("[autofocus]");
        if (first && typeof first.focus === "function") first.focus();
      }
      localizeTimes(document.querySelector("body > main"));
      if (!samePage || mode === "pop") {
        var state = history.state || {};
        var target = to.hash && document.getElementById(decodeURIComponent(to.hash.slice(1)));
        if (mode === "pop" && typeof state.scroll === "number") window.scrollTo(0, state.scroll);
        else if (target) target.scrollIntoView();
        else window.scrollTo(0, 0);
      }
      enter();
    }

    // Keeps the scroll position in the entry being left, for Back.
    function remember() {
      try {
        history.replaceState({ cinder: true, scroll: window.scrollY }, "", location.href);
      } catch (e) { /* a state that cannot be stored is no reason to stop */ }
    }

    // Makes `old` look like `fresh`, keeping every node that is already right: elements of the
    // same tag and id are updated in place (attributes, then children in order), anything else
    // is swapped. Fields take the value the server rendered, except `typing` (the focused
    // one), which keeps its focus and value.
    function morph(old, fresh, typing) {
      if (old.isEqualNode(fresh)) {
        if (old.nodeType === 1) {
          resetField(old, typing);
          old.querySelectorAll("input, textarea").forEach(function (f) { resetField(f, typing); });
        }
        return;
      }
      if (old.nodeType !== 1 || fresh.nodeType !== 1 || old.nodeName !== fresh.nodeName ||
          old.getAttribute("id") !== fresh.getAttribute("id")) {
        replacing = true;
        try { old.replaceWith(fresh); } finally { replacing = false; }
        return;
      }
      Array.prototype.slice.call(old.attributes).forEach(function (attr) {
        if (!fresh.hasAttribute(attr.name)) old.removeAttribute(attr.name);
      });
      Array.prototype.slice.call(fresh.attributes).forEach(function (attr) {
        if (old.getAttribute(attr.name) !== attr.value) old.setAttribute(attr.name, attr.value);
      });
      resetField(old, typing);
      var was = Array.prototype.slice.call(old.childNodes);
      var now = Array.prototype.slice.call(fresh.childNodes);
      now.forEach(function (node, i) {
        if (i < was.length) morph(was[i], node, typing);
        else old.appendChild(node);
      });
      for (var i = now.length; i < was.length; i++) was[i].remove();
    }

    // A kept field shows what the server rendered (its attributes), not what was typed before.
    function resetField(el, typing) {
      if (el === typing || el.nodeType !== 1) return;
      if (el.tagName === "INPUT") {
        if (el.type === "checkbox" || el.type === "radio") el.checked = el.defaultChecked;
        else if (el.type !== "file") el.value = el.defaultValue;
      } else if (el.tagName === "TEXTAREA") {
        el.value = el.defaultValue;
      }
    }

    // Takes up the page on screen: its view is joined if it is live.
    function enter() {
      var root = document.getElementById("cinder-root");
      topic = (root && root.dataset.cinderTopic) || null;
      token = (root && root.dataset.cinderToken) || "";
      at = (root && root.dataset.cinderAt) || null;
      if (!topic) { showConnection(); return; }
      if (!ws) connect();
      else if (ws.readyState === 1) join(); // a socket still opening joins once open
    }

    // Leaves the shown view (its channel on the server ends), keeping the socket.
    function leave() {
      if (topic && joinRef) send([joinRef, nextRef(), topic, "phx_leave", {}]);
      Object.keys(pending).forEach(function (ref) {
        clearTimeout(pending[ref].timer);
        delete pending[ref];
      });
      queued = [];
      joinRef = null;
      topic = null;
      setJoined(false, true);
    }

    // Coming back online: do not wait for the rest of the backoff.
    window.addEventListener("online", function () { if (!ws && topic) connect(); });

    if (window.history && history.replaceState) {
      try {
        history.scrollRestoration = "manual"; // Back puts the scroll where it was (see show)
        history.replaceState({ cinder: true, scroll: window.scrollY }, "", location.href);
      } catch (e) { /* no History API: links stay plain */ }
    }
    setJoined(false, true);
    enter();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
