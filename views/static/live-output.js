/*
 * The run page's output panel, on top of htmx's SSE extension (which appends
 * the live output itself):
 * - follows the bottom of the output while the person is there; scrolling up
 *   stops following and shows a button to jump back;
 * - keeps the page light on long runs: the oldest lines are dropped once the
 *   panel holds more than MAX_SHOWN_BYTES (four times that while the person
 *   reads further up, keeping their view still), and the "load earlier"
 *   control moves to where the panel now starts;
 * - keeps the view still when earlier output is put in front.
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

  document.addEventListener('DOMContentLoaded', init);
})();
