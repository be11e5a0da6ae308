/*
 * The run page's output panel, on top of htmx's SSE extension (which appends
 * the live output itself):
 * - follows the bottom of the output while the person is there; scrolling up
 *   stops following and shows a button to jump back;
 * - keeps the page light on long runs: the oldest lines are dropped once the
 *   panel holds more than MAX_SHOWN_BYTES (four times that while the person
 *   reads further up, keeping their view still), and the "load earlier"
 *   control moves to where the panel now starts;
 * - keeps the view still when earlier output is put in front;
 * - numbers the lines that arrive live (the server numbers what it renders
 *   first), shows per-line times and wraps lines or not, as asked (kept in
 *   localStorage);
 * - opens #L<n> links: in place when the line is shown, else the lines around
 *   it in the panel's window;
 * - searches the stored output through the API, match by match.
 * No inline script or style: the pages run under a strict CSP.
 */
(function () {
  'use strict';

  var MAX_SHOWN_BYTES = 2 * 1024 * 1024;
  var KEEP_SHOWN_BYTES = 1536 * 1024;
  var NEAR_BOTTOM_PX = 24;

  var following = true;
  /** Distance from the bottom before earlier output is put in front, to keep the view where it was. */
  var earlierAnchor = null;

  function output() {
    return document.getElementById('output-text');
  }

  function atBottom(pre) {
    return pre.scrollTop + pre.clientHeight >= pre.scrollHeight - NEAR_BOTTOM_PX;
  }

  function toBottom(pre) {
    pre.scrollTop = pre.scrollHeight;
  }

  function showFollowButton(show) {
    var button = document.getElementById('output-follow');
    if (button && button.hidden === show) button.hidden = !show;
  }

  function bytesText(count) {
    if (count < 1024) return count + ' B';
    var units = ['KiB', 'MiB', 'GiB', 'TiB'];
    var value = count / 1024;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit++;
    }
    return (value < 10 ? value.toFixed(1) : Math.round(value)) + ' ' + units[unit];
  }

  /** Drops the oldest chunks of lines while the panel shows more than `max` bytes, and points "load earlier" at the new start. */
  function trim(pre, max, keep) {
    var lines = document.getElementById('output-lines');
    if (!lines || lines.childElementCount < 2) return;
    var last = Number(lines.lastElementChild.getAttribute('data-at'));
    var first = Number(lines.firstElementChild.getAttribute('data-at'));
    if (!(last - first > max)) return;
    var height = pre.scrollHeight;
    while (lines.childElementCount > 1 && last - Number(lines.firstElementChild.getAttribute('data-at')) > keep) {
      lines.firstElementChild.remove();
    }
    // What was removed was above the view: keep the view on the same lines.
    if (!following) pre.scrollTop = Math.max(0, pre.scrollTop - (height - pre.scrollHeight));
    var start = Number(lines.firstElementChild.getAttribute('data-at'));
    var earlier = document.getElementById('output-earlier');
    var button = earlier && earlier.querySelector('button[hx-get]');
    if (!earlier || !button || !(start > 0)) return;
    button.setAttribute('hx-get', button.getAttribute('hx-get').replace(/before=\d+/, 'before=' + start));
    var note = earlier.querySelector('.output-note');
    if (note) note.textContent = bytesText(start) + ' before this point';
    earlier.hidden = false;
  }

  /** Sets the panel up after a page load or a navigation to a run page. */
  function init() {
    var pre = output();
    if (!pre || pre.hasAttribute('data-live-ready')) return;
    pre.setAttribute('data-live-ready', '');
    following = true;
    toBottom(pre);
    showFollowButton(false);
    pre.addEventListener('scroll', function () {
      following = atBottom(pre);
      showFollowButton(!following);
    }, { passive: true });
  }

  document.addEventListener('htmx:before:swap', function (event) {
    var ctx = event.detail && event.detail.ctx;
    var pre = output();
    if (ctx && pre && ctx.target && ctx.target.id === 'output-earlier') earlierAnchor = pre.scrollHeight - pre.scrollTop;
  });

  document.addEventListener('htmx:after:swap', function () {
    init();
    var pre = output();
    if (!pre) return;
    if (earlierAnchor !== null) {
      pre.scrollTop = pre.scrollHeight - earlierAnchor;
      earlierAnchor = null;
      return;
    }
    if (following) {
      trim(pre, MAX_SHOWN_BYTES, KEEP_SHOWN_BYTES);
      toBottom(pre);
    } else {
      trim(pre, 4 * MAX_SHOWN_BYTES, 3 * MAX_SHOWN_BYTES);
    }
  });

  document.addEventListener('click', function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target || !target.closest('#output-follow')) return;
    var pre = output();
    if (!pre) return;
    following = true;
    toBottom(pre);
    showFollowButton(false);
    pre.focus({ preventScroll: true });
  });

  // ---- Line numbers, times, wrapping ------------------------------------------

  var SETTINGS = { wrap: 'endercompute.output.wrap', times: 'endercompute.output.times' };

  function setting(name, fallback) {
    try {
      var value = window.localStorage.getItem(SETTINGS[name]);
      return value === null ? fallback : value === '1';
    } catch (e) {
      return fallback;
    }
  }

  function remember(name, on) {
    try {
      window.localStorage.setItem(SETTINGS[name], on ? '1' : '0');
    } catch (e) {
      /* private mode: the switch works for this page only */
    }
  }

  function view() {
    return document.getElementById('output-view');
  }

  /** A line's number: its own (`data-n`, from the server), or counted in its live chunk (`data-first`). */
  function numberOf(line) {
    if (!line || line.classList.contains('ol-cont')) return null;
    var n = line.getAttribute('data-n');
    if (n) return Number(n);
    var chunk = line.parentElement;
    var first = chunk ? chunk.getAttribute('data-first') : null;
    if (!first) return null;
    var index = 0;
    for (var other = chunk.firstElementChild; other && other !== line; other = other.nextElementSibling) {
      if (!other.classList.contains('ol-cont')) index++;
    }
    return Number(first) + index;
  }

  /** How many numbered lines a chunk holds. */
  function countOf(chunk) {
    return chunk.querySelectorAll(':scope > .ol:not(.ol-cont)').length;
  }

  /**
   * Numbers the live lines on from the last numbered one, one change per
   * chunk (a live page adds thousands of lines a second): the chunk gets its
   * first number, and CSS counts on from there. Chunks are walked back to one
   * numbered already; a chunk that replaced everything (the output ran far
   * ahead) came unnumbered and stays so.
   */
  function numberLive() {
    var lines = document.getElementById('output-lines');
    if (!lines) return;
    var chunk = lines.lastElementChild;
    var fresh = [];
    while (chunk && !chunk.hasAttribute('data-numbered') && !(chunk.firstElementChild && chunk.firstElementChild.id)) {
      fresh.unshift(chunk);
      chunk = chunk.previousElementSibling;
    }
    var next = null;
    // Nothing numbered before the new chunks: they continue where the page's live stream started.
    // Used once: after a skip ahead replaced the lines, the numbers are not known here.
    if (!chunk && fresh.length > 0 && lines.hasAttribute('data-next-line')) next = Number(lines.getAttribute('data-next-line'));
    if (chunk || fresh.length > 0) lines.removeAttribute('data-next-line');
    if (chunk) {
      var first = chunk.getAttribute('data-first');
      if (first) next = Number(first) + countOf(chunk);
      else {
        for (var last = chunk.lastElementChild; last && next === null; last = last.previousElementSibling) {
          var own = numberOf(last);
          if (own !== null) next = own + 1;
        }
      }
    }
    fresh.forEach(function (piece) {
      piece.setAttribute('data-numbered', '');
      if (next === null) return; // after a skip ahead the numbers are not known here
      piece.style.counterReset = 'ln ' + (next - 1);
      piece.setAttribute('data-first', String(next));
      next += countOf(piece);
    });
    var current = document.querySelector('#output-current .ol');
    if (current && next !== null && !current.classList.contains('ol-cont')) current.setAttribute('data-n', String(next));
  }

  /** The element of line `n` in the live panel or the window, given its id on the way; null when not shown. */
  function findLine(n) {
    var line = document.getElementById('L' + n);
    if (line) return line;
    var chunks = document.querySelectorAll('#output-lines > [data-first]');
    for (var c = chunks.length - 1; c >= 0; c--) {
      var first = Number(chunks[c].getAttribute('data-first'));
      if (first > n) continue;
      var index = n - first;
      for (var other = chunks[c].firstElementChild; other; other = other.nextElementSibling) {
        if (other.classList.contains('ol-cont')) continue;
        if (index === 0) {
          other.id = 'L' + n;
          return other;
        }
        index--;
      }
      return null;
    }
    return null;
  }

  var timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });

  /**
   * Shows each line's time (when times are on): a line carries `data-t` only
   * where the time changed, so the time is carried down from the line before.
   * Only lines not shown with a time yet are touched.
   */
  function showTimes() {
    var outputView = view();
    if (!outputView || !outputView.classList.contains('times')) return;
    outputView.querySelectorAll('pre.output').forEach(function (pre) {
      var lines = pre.querySelectorAll('.ol');
      var start = lines.length;
      while (start > 0 && !lines[start - 1].hasAttribute('data-time')) start--;
      // From the first line without a time (lines put in front come unnumbered by time too).
      var first = 0;
      while (first < start && lines[first].hasAttribute('data-time')) first++;
      var at = NaN;
      for (var i = first; i < lines.length; i++) {
        var line = lines[i];
        if (line.hasAttribute('data-t')) at = Number(line.getAttribute('data-t'));
        else if (isNaN(at) && i > 0) at = Number(lines[i - 1].getAttribute('data-t-shown'));
        if (line.hasAttribute('data-time') || isNaN(at)) continue;
        line.setAttribute('data-time', timeFormat.format(at));
        line.setAttribute('data-t-shown', String(at));
      }
    });
  }

  function applySwitches() {
    var outputView = view();
    if (!outputView) return;
    var wrap = setting('wrap', true);
    var times = setting('times', false);
    outputView.classList.toggle('nowrap', !wrap);
    outputView.classList.toggle('times', times);
    document.querySelectorAll('[data-output="wrap"]').forEach(function (box) { box.checked = wrap; });
    document.querySelectorAll('[data-output="times"]').forEach(function (box) { box.checked = times; });
    showTimes();
  }

  document.addEventListener('change', function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement)) return;
    var name = box.getAttribute('data-output');
    if (name !== 'wrap' && name !== 'times') return;
    remember(name, box.checked);
    applySwitches();
  });

  // ---- Lines by number: #L<n> ---------------------------------------------------

  function runId() {
    var tools = document.getElementById('output-tools');
    return tools ? tools.getAttribute('data-run') : null;
  }

  /** Scrolls a line into the middle of its panel and marks it. */
  function reveal(line, className) {
    var pre = line.closest('pre');
    if (pre === output()) {
      following = false;
      showFollowButton(true);
    }
    document.querySelectorAll('.output .' + className).forEach(function (other) { other.classList.remove(className); });
    line.classList.add(className);
    if (pre) pre.scrollTop = Math.max(0, line.offsetTop - pre.clientHeight / 2);
    var panel = document.getElementById('run-output');
    if (panel && panel.getBoundingClientRect().top < 0) panel.scrollIntoView({ block: 'start' });
  }

  function closeWindow() {
    var outputView = view();
    var box = document.getElementById('output-window');
    if (!outputView || !box) return;
    outputView.classList.remove('windowed');
    box.hidden = true;
    box.replaceChildren();
  }

  /** Shows line `n`: where the panel shows it, else the lines around it (loaded into the window); then `done(line)`. */
  function goToLine(n, className, done) {
    var shown = findLine(n);
    if (shown) {
      if (!shown.closest('#output-window')) closeWindow();
      reveal(shown, className);
      if (done) done(shown);
      return;
    }
    var id = runId();
    var box = document.getElementById('output-window');
    if (!id || !box || !window.htmx) return;
    window.htmx.ajax('GET', '/runs/' + encodeURIComponent(id) + '/output/around?line=' + n, { target: '#output-window', swap: 'innerHTML' }).then(function () {
      box.hidden = false;
      view().classList.add('windowed');
      showTimes();
      var line = box.querySelector('#L' + n);
      if (!line) return;
      reveal(line, className);
      if (done) done(line);
    });
  }

  function lineFromHash() {
    var match = /^#L(\d+)$/.exec(window.location.hash);
    return match ? Number(match[1]) : null;
  }

  document.addEventListener('click', function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    var line = target.closest('.output .ol');
    var number = line ? numberOf(line) : null;
    if (line && number !== null && onNumber(line, event)) {
      line.id = 'L' + number;
      window.history.replaceState(window.history.state, '', '#' + line.id);
      reveal(line, 'ol-target');
      return;
    }
    if (target.closest('[data-output="to-end"]')) {
      closeWindow();
      var pre = output();
      if (!pre) return;
      following = true;
      toBottom(pre);
      showFollowButton(false);
    }
  });

  /** Whether a click on a line was on its number (the CSS text before its first fragment). */
  function onNumber(line, event) {
    var box = line.getClientRects()[0];
    if (!box) return false;
    var gutter = parseFloat(getComputedStyle(line, '::before').width) || 0;
    return event.clientX - box.left <= gutter && event.clientY - box.top <= box.height;
  }

  window.addEventListener('hashchange', function () {
    var n = lineFromHash();
    if (n !== null) goToLine(n, 'ol-target');
  });

  // ---- Search ---------------------------------------------------------------------

  var search = { q: '', matches: [], index: -1, next: null, loading: false };

  function status(text) {
    var element = document.getElementById('output-search-status');
    if (element && element.textContent !== text) element.textContent = text;
  }

  function fetchMatches(from) {
    var id = runId();
    var headers = window.EnderCompute ? window.EnderCompute.authHeaders() : {};
    var url = '/api/runs/' + encodeURIComponent(id) + '/output/search?limit=1000&q=' + encodeURIComponent(search.q) + (from ? '&from=' + from : '');
    search.loading = true;
    return fetch(url, { headers: headers }).then(function (response) {
      return response.json().then(function (body) {
        search.loading = false;
        if (!response.ok) throw new Error(Array.isArray(body.message) ? body.message.join('; ') : body.message || 'The search failed');
        search.matches = search.matches.concat(body.matches);
        search.next = body.next;
      });
    });
  }

  /** Marks the occurrences of the search text in one line (its text nodes, so colours stay). */
  function markIn(line, q) {
    document.querySelectorAll('.output mark').forEach(function (mark) {
      mark.replaceWith(document.createTextNode(mark.textContent));
    });
    var lower = q.toLowerCase();
    var walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
    var nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    nodes.forEach(function (node) {
      var text = node.nodeValue;
      var at = text.toLowerCase().indexOf(lower);
      if (at < 0) return;
      var fragment = document.createDocumentFragment();
      var from = 0;
      while (at >= 0) {
        fragment.appendChild(document.createTextNode(text.slice(from, at)));
        var mark = document.createElement('mark');
        mark.textContent = text.slice(at, at + q.length);
        fragment.appendChild(mark);
        from = at + q.length;
        at = text.toLowerCase().indexOf(lower, from);
      }
      fragment.appendChild(document.createTextNode(text.slice(from)));
      node.replaceWith(fragment);
    });
  }

  function showMatch() {
    var total = search.matches.length + (search.next ? '+' : '');
    if (search.matches.length === 0) {
      status('No matches');
      return;
    }
    var match = search.matches[search.index];
    status((search.index + 1) + ' of ' + total + ' · line ' + match.line);
    var q = search.q;
    goToLine(match.line, 'ol-hit', function (line) {
      markIn(line, q);
    });
  }

  function step(direction) {
    var input = document.getElementById('output-q');
    if (!input) return;
    var q = input.value;
    if (q === '') {
      status('');
      return;
    }
    if (search.loading) return;
    if (q !== search.q) {
      search = { q: q, matches: [], index: -1, next: null, loading: false };
      status('Searching…');
      fetchMatches(null).then(function () {
        search.index = direction > 0 ? 0 : search.matches.length - 1;
        showMatch();
      }, function (error) {
        status(error.message);
      });
      return;
    }
    if (search.matches.length === 0) return showMatch();
    var nextIndex = search.index + direction;
    if (nextIndex >= search.matches.length && search.next) {
      fetchMatches(search.next).then(function () {
        search.index = nextIndex;
        showMatch();
      }, function (error) {
        status(error.message);
      });
      return;
    }
    search.index = (nextIndex + search.matches.length) % search.matches.length;
    showMatch();
  }

  document.addEventListener('submit', function (event) {
    if (!(event.target instanceof Element) || event.target.id !== 'output-search') return;
    event.preventDefault();
    event.stopPropagation();
    step(event.submitter && event.submitter.getAttribute('data-output') === 'prev' ? -1 : 1);
  }, true);

  document.addEventListener('click', function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (target && target.closest('[data-output="prev"]')) step(-1);
  });

  document.addEventListener('keydown', function (event) {
    if (!(event.target instanceof Element) || event.target.id !== 'output-q') return;
    if (event.key === 'Enter' && event.shiftKey) {
      event.preventDefault();
      step(-1);
    }
  });

  // ---- Start --------------------------------------------------------------------

  function start() {
    init();
    applySwitches();
    var n = lineFromHash();
    var pre = output();
    if (n !== null && pre && !pre.hasAttribute('data-hash-done')) {
      pre.setAttribute('data-hash-done', '');
      goToLine(n, 'ol-target');
    }
  }

  document.addEventListener('htmx:after:swap', function () {
    numberLive();
    showTimes();
    start();
  });

  document.addEventListener('DOMContentLoaded', start);
})();
