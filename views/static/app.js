/*
 * EnderCompute pages: the one script besides htmx.
 * - keeps the key and the person's name in localStorage and sends them with
 *   every htmx request (Authorization: Bearer …, X-Actor percent-encoded);
 * - turns the application shell into the page: with a stored key it loads the
 *   same URL with the key, otherwise it shows the key form;
 * - keeps relative times and elapsed times current, in the browser's zone;
 * - confirmation and name dialogs, file downloads with the key, small editor keys.
 * No inline script or style anywhere: the pages run under a strict CSP.
 */
(function () {
  'use strict';

  var KEY = 'endercompute.key';
  var NAME = 'endercompute.name';
  /** Server clock minus browser clock, from the Date header of answers. */
  var skewMs = 0;
  var lastAutoLoad = 0;

  function stored(name) {
    try {
      return window.localStorage.getItem(name) || '';
    } catch (e) {
      return '';
    }
  }

  function store(name, value) {
    try {
      if (value) window.localStorage.setItem(name, value);
      else window.localStorage.removeItem(name);
    } catch (e) {
      /* private mode: nothing is kept */
    }
  }

  function authHeaders() {
    var headers = {};
    var key = stored(KEY);
    var name = stored(NAME).trim();
    if (key) headers.Authorization = 'Bearer ' + key;
    // Header values are Latin-1: the server decodes the percent-encoding.
    if (name) headers['X-Actor'] = encodeURIComponent(name);
    return headers;
  }

  // The output viewer (live-output.js) calls the API with the same key.
  window.EnderCompute = { authHeaders: authHeaders };

  function sameOrigin(url) {
    try {
      return new URL(url, window.location.href).origin === window.location.origin;
    } catch (e) {
      return false;
    }
  }

  /** Loads the current URL with the key, replacing the whole page. */
  function loadHere() {
    lastAutoLoad = Date.now();
    window.htmx.ajax('GET', window.location.pathname + window.location.search, { target: 'body', swap: 'innerHTML' });
  }

  /** The application shell: load the page when a key is stored, else ask for it. */
  function gate() {
    var gateElt = document.getElementById('key-gate');
    if (!gateElt) return;
    var form = document.getElementById('key-form');
    var loading = gateElt.querySelector('[data-gate-loading]');
    var refused = gateElt.getAttribute('data-message');
    if (refused) store(KEY, '');
    if (!refused && stored(KEY) && Date.now() - lastAutoLoad > 3000) {
      loadHere();
      return;
    }
    if (loading) loading.hidden = true;
    if (!form) return;
    form.hidden = false;
    var nameInput = document.getElementById('name-input');
    if (nameInput && !nameInput.value) nameInput.value = stored(NAME);
    var keyInput = document.getElementById('key-input');
    var first = nameInput && !nameInput.value ? nameInput : keyInput;
    if (first) first.focus();
  }

  function flash(kind, message) {
    var region = document.getElementById('flash');
    if (!region) return;
    var box = document.createElement('div');
    box.className = 'alert alert-' + kind;
    if (kind === 'error') box.setAttribute('role', 'alert');
    var text = document.createElement('p');
    text.className = 'alert-message';
    text.textContent = message;
    var close = document.createElement('button');
    close.type = 'button';
    close.className = 'alert-close';
    close.setAttribute('data-action', 'dismiss');
    close.setAttribute('aria-label', 'Dismiss');
    close.textContent = '×';
    box.appendChild(text);
    box.appendChild(close);
    region.replaceChildren(box);
  }

  // ---- Times ----------------------------------------------------------------

  var absoluteFormat = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
  });

  function relativeText(deltaMs) {
    var seconds = Math.round(deltaMs / 1000);
    var magnitude = Math.abs(seconds);
    if (magnitude < 5) return 'just now';
    var text;
    if (magnitude < 60) text = magnitude + ' s';
    else if (magnitude < 3600) text = Math.floor(magnitude / 60) + ' min';
    else if (magnitude < 86400) text = Math.floor(magnitude / 3600) + ' h';
    else if (magnitude < 86400 * 45) text = Math.floor(magnitude / 86400) + ' d';
    else if (magnitude < 86400 * 365) text = Math.floor(magnitude / (86400 * 30)) + ' mo';
    else text = Math.floor(magnitude / (86400 * 365)) + ' y';
    return seconds < 0 ? text + ' ago' : 'in ' + text;
  }

  function durationText(ms) {
    if (!isFinite(ms) || ms < 0) ms = 0;
    if (ms < 10000) return (ms / 1000).toFixed(1) + ' s';
    var total = Math.floor(ms / 1000);
    if (total < 60) return total + ' s';
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var seconds = total % 60;
    if (hours > 0) return hours + 'h ' + String(minutes).padStart(2, '0') + 'm';
    return minutes + 'm ' + String(seconds).padStart(2, '0') + 's';
  }

  function setText(element, text) {
    if (element.textContent !== text) element.textContent = text;
  }

  function refreshTimes() {
    var now = Date.now() + skewMs;
    document.querySelectorAll('time[data-rel]').forEach(function (element) {
      var at = Date.parse(element.getAttribute('datetime'));
      if (isNaN(at)) return;
      setText(element, relativeText(at - now));
      var title = absoluteFormat.format(at);
      if (element.title !== title) element.title = title;
    });
    document.querySelectorAll('time[data-abs]').forEach(function (element) {
      var at = Date.parse(element.getAttribute('datetime'));
      if (!isNaN(at)) setText(element, absoluteFormat.format(at));
    });
    document.querySelectorAll('[data-elapsed]').forEach(function (element) {
      var since = Date.parse(element.getAttribute('data-elapsed'));
      if (!isNaN(since)) setText(element, durationText(now - since));
    });
  }

  // ---- htmx -----------------------------------------------------------------

  document.addEventListener('htmx:config:request', function (event) {
    var request = event.detail.ctx.request;
    if (!sameOrigin(request.action)) return;
    var headers = authHeaders();
    Object.keys(headers).forEach(function (name) {
      request.headers[name] = headers[name];
    });
    var body = request.body;
    // Search and filter URLs stay short and shareable: empty fields are left out.
    if (request.method === 'GET' && body && typeof body.keys === 'function') {
      Array.from(new Set(Array.from(body.keys()))).forEach(function (name) {
        if (body.getAll(name).every(function (value) { return value === ''; })) body.delete(name);
      });
    }
    // A datetime-local value is a local time without zone: send it as an ISO time.
    if (body && typeof body.get === 'function') {
      var at = body.get('at');
      if (typeof at === 'string' && at !== '' && !/(?:[zZ]|[+-]\d\d:?\d\d)$/.test(at)) {
        var when = new Date(at);
        if (!isNaN(when.getTime())) {
          body.set('at', when.toISOString());
          // Kept so a refused form can show the time as it was typed.
          body.set('atLocal', at);
        }
      }
    }
  });

  // Pollers rest while the tab is hidden.
  document.addEventListener('htmx:before:request', function (event) {
    var source = event.detail.ctx && event.detail.ctx.sourceElement;
    if (document.hidden && source && source.hasAttribute && source.hasAttribute('data-poll')) event.preventDefault();
  });

  document.addEventListener('htmx:after:request', function (event) {
    var response = event.detail.ctx && event.detail.ctx.response;
    if (!response) return;
    var date = response.headers && response.headers.get('Date');
    var serverTime = date ? Date.parse(date) : NaN;
    // The header has whole seconds: only a clearly different clock moves the estimate.
    if (!isNaN(serverTime) && Math.abs(serverTime - Date.now() - skewMs) > 1500) skewMs = serverTime - Date.now();
    if (response.status === 401) store(KEY, '');
  });

  document.addEventListener('htmx:error', function (event) {
    var ctx = event.detail && event.detail.ctx;
    if (ctx && ctx.response) return; // an HTTP error: the server's answer is shown already
    if (ctx && ctx.sourceElement && ctx.sourceElement.hasAttribute && ctx.sourceElement.hasAttribute('data-poll')) return;
    var gateElt = document.getElementById('key-gate');
    if (gateElt) {
      var loading = gateElt.querySelector('[data-gate-loading]');
      if (loading) loading.textContent = 'The server cannot be reached. Reload the page to try again.';
      return;
    }
    flash('error', 'The server cannot be reached: check your connection and try again.');
  });

  document.addEventListener('htmx:after:swap', function (event) {
    var ctx = event.detail.ctx || {};
    refreshTimes();
    // The run page refreshed itself and the run is over: notices about what was under way ("is being cancelled", "was paused") are stale now.
    var targetId = typeof ctx.target === 'string' ? ctx.target.replace(/^#/, '') : ctx.target && ctx.target.id;
    if (targetId === 'run-live' && !document.getElementById('run-refresh')) {
      document.querySelectorAll('#flash .alert:not(.alert-error)').forEach(function (notice) { notice.remove(); });
    }
    var status = ctx.response && ctx.response.status;
    if (status === 422) {
      var invalid = document.querySelector('[aria-invalid="true"]');
      if (invalid) invalid.focus();
    } else if (ctx.target === document.body || ctx.target === 'body') {
      var main = document.getElementById('main');
      if (main && !document.getElementById('key-gate')) main.focus({ preventScroll: true });
    }
    gate();
  });

  // A stale "Are you sure?" is never shown: htmx asks, the page's dialog answers.
  document.addEventListener('htmx:confirm', function (event) {
    var dialog = document.getElementById('confirm-dialog');
    if (!dialog || typeof dialog.showModal !== 'function') return;
    var detail = event.detail;
    event.preventDefault();
    document.getElementById('confirm-message').textContent = detail.ctx.confirm;
    var source = detail.ctx.sourceElement;
    document.getElementById('confirm-ok').textContent = (source && source.getAttribute('data-confirm-label')) || 'Confirm';
    // Every confirmation is of something that cannot be undone: "Keep it" goes back ("Cancel" would be ambiguous beside "Cancel run").
    var dismiss = dialog.querySelector('button[value="cancel"]');
    if (dismiss) dismiss.textContent = 'Keep it';
    dialog.returnValue = '';
    dialog.addEventListener('close', function onClose() {
      dialog.removeEventListener('close', onClose);
      if (dialog.returnValue === 'ok') detail.issueRequest();
      else detail.dropRequest();
    });
    dialog.showModal();
  });

  // ---- Forms and buttons ----------------------------------------------------

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (form.id !== 'key-form') return;
    event.preventDefault();
    var key = form.elements.key.value.trim();
    var name = form.elements.name.value.trim();
    // Each empty field is marked and says in words what it needs; the first one gets the focus.
    var missing = [[form.elements.name, name], [form.elements.key, key]].filter(function (pair) {
      var input = pair[0];
      var empty = !pair[1];
      var error = document.getElementById(input.id + '-error');
      if (error) error.hidden = !empty;
      if (empty) {
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', (input.id === 'name-input' ? 'name-hint ' : '') + input.id + '-error');
      }
      return empty;
    });
    if (missing.length) {
      missing[0][0].focus();
      return;
    }
    store(KEY, key);
    store(NAME, form.elements.name.value.trim());
    loadHere();
  });

  function download(link) {
    window
      .fetch(link.href, { headers: authHeaders() })
      .then(function (response) {
        if (response.status === 401) throw new Error('the key was not accepted');
        if (!response.ok) throw new Error('the server answered ' + response.status);
        return response.blob();
      })
      .then(function (blob) {
        var url = URL.createObjectURL(blob);
        var anchor = document.createElement('a');
        anchor.href = url;
        anchor.download = link.getAttribute('data-download') || 'download';
        document.body.appendChild(anchor);
        anchor.click();
        anchor.remove();
        window.setTimeout(function () {
          URL.revokeObjectURL(url);
        }, 30000);
      })
      .catch(function (error) {
        flash('error', 'The download failed: ' + error.message);
      });
  }

  function changeName() {
    var dialog = document.getElementById('name-dialog');
    var input = dialog && dialog.querySelector('[data-name-input]');
    if (!dialog || !input) return;
    input.value = stored(NAME);
    dialog.returnValue = '';
    dialog.addEventListener('close', function onClose() {
      dialog.removeEventListener('close', onClose);
      if (dialog.returnValue !== 'ok') return;
      store(NAME, input.value.trim());
      loadHere();
    });
    dialog.showModal();
    input.select();
  }

  document.addEventListener('click', function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    var link = target.closest('a[data-download]');
    if (link) {
      event.preventDefault();
      download(link);
      return;
    }
    var openMenu = document.querySelector('.usermenu[open]');
    if (openMenu && !openMenu.contains(target)) openMenu.removeAttribute('open');
    var actionElt = target.closest('[data-action]');
    if (!actionElt) return;
    var action = actionElt.getAttribute('data-action');
    if (openMenu) openMenu.removeAttribute('open');
    if (action === 'dismiss') {
      var alert = actionElt.closest('.alert');
      if (alert) alert.remove();
    } else if (action === 'remove-row') {
      // A row of an editor (the job form's schedules): gone from the form, focus on the editor's "add" button.
      var row = actionElt.closest('[data-row]');
      var container = row && row.parentElement;
      if (row) row.remove();
      var add = container && container.querySelector('#schedule-add');
      if (add) add.focus();
    } else if (action === 'change-name') {
      changeName();
    } else if (action === 'forget-key') {
      store(KEY, '');
      window.location.reload();
    }
  });

  var escapePressed = false;
  document.addEventListener('keydown', function (event) {
    var target = event.target;
    if (event.key === 'Escape') {
      var openMenu = document.querySelector('.usermenu[open]');
      if (openMenu) {
        openMenu.removeAttribute('open');
        var summary = openMenu.querySelector('summary');
        if (summary) summary.focus();
      }
    }
    if (!(target instanceof HTMLElement)) return;
    // The script editor: Tab indents, unless Esc came first (so the keyboard can always leave).
    if (target.matches('textarea[data-code]') && event.key === 'Tab' && !event.shiftKey && !event.ctrlKey && !event.metaKey && !event.altKey && !escapePressed) {
      event.preventDefault();
      target.setRangeText('  ', target.selectionStart, target.selectionEnd, 'end');
    }
    if ((event.ctrlKey || event.metaKey) && event.key === 'Enter' && target.matches('textarea, input') && target.form) {
      event.preventDefault();
      target.form.requestSubmit();
    }
    escapePressed = event.key === 'Escape';
  });

  // ---- The script editor grows with its content (never below its first size) ----

  function fitEditor(textarea) {
    if (!textarea.hasAttribute('data-min-rows')) textarea.setAttribute('data-min-rows', String(textarea.rows || 18));
    var rows = textarea.value.split('\n').length + 1;
    textarea.rows = Math.min(200, Math.max(Number(textarea.getAttribute('data-min-rows')), rows));
  }

  document.addEventListener('input', function (event) {
    if (event.target instanceof HTMLTextAreaElement && event.target.matches('textarea[data-code]')) fitEditor(event.target);
  });
  ['DOMContentLoaded', 'htmx:after:swap'].forEach(function (name) {
    document.addEventListener(name, function () {
      document.querySelectorAll('textarea[data-code]').forEach(fitEditor);
    });
  });

  document.addEventListener('DOMContentLoaded', function () {
    // After htmx has initialised (it starts on a zero-delay timer).
    window.setTimeout(function () {
      refreshTimes();
      gate();
    }, 0);
  });
  window.setInterval(refreshTimes, 1000);
})();
