// The console works without this file; it adds keyboard shortcuts and makes
// the transcript follow the clip.
'use strict';
(function () {
  // Keyboard: an element with data-key="x" is clicked when x is pressed.
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
    var rows = document.querySelectorAll('a.row');
    if (rows.length && (e.key === 'j' || e.key === 'k')) {
      var i = Array.prototype.indexOf.call(rows, document.activeElement);
      i = e.key === 'j' ? Math.min(i + 1, rows.length - 1) : Math.max(i - 1, 0);
      rows[i].focus();
      e.preventDefault();
      return;
    }
    // Space plays or pauses the clip, so a moment is watched without the
    // mouse; a focused button, link or the player keeps its own space.
    var clip = document.getElementById('clip');
    if (clip && e.key === ' ' && !(t && (t.tagName === 'BUTTON' || t.tagName === 'A' || t.tagName === 'VIDEO' || t.tagName === 'SUMMARY'))) {
      e.preventDefault();
      if (clip.paused) clip.play(); else clip.pause();
      return;
    }
    var el = document.querySelector('[data-key="' + e.key + '"]');
    if (!el) return;
    e.preventDefault();
    el.classList.add('pressed');
    el.click();
  });
  // Clicking a button twice while the page changes would decide twice.
  document.addEventListener('submit', function (e) {
    if (e.target.dataset.sent) { e.preventDefault(); return; }
    e.target.dataset.sent = '1';
  });

  var v = document.getElementById('clip');
  if (!v) return;
  var lines = Array.prototype.slice.call(document.querySelectorAll('#transcript li'));
  var start = parseFloat(v.dataset.start) || 0;
  v.addEventListener('loadedmetadata', function () {
    if (start > 0 && start < v.duration) v.currentTime = start;
  }, { once: true });
  var current = null;
  function follow() {
    var t = v.currentTime, now = null;
    for (var i = 0; i < lines.length; i++) {
      var from = parseFloat(lines[i].dataset.from);
      if (from >= 0 && from <= t + 0.05) now = lines[i];
    }
    if (now === current) return;
    if (current) current.classList.remove('now');
    current = now;
    if (now) {
      now.classList.add('now');
      // Scroll the transcript box only, never the page: the clip stays in
      // sight on a phone.
      var box = now.parentNode, top = now.offsetTop; // the list is the offset parent (position: relative)
      if (top < box.scrollTop || top + now.offsetHeight > box.scrollTop + box.clientHeight) {
        box.scrollTop = Math.max(top - box.clientHeight / 3, 0);
      }
    }
  }
  v.addEventListener('timeupdate', follow);
  v.addEventListener('seeked', follow);
  // A tap on a line plays from it.
  lines.forEach(function (li) {
    li.addEventListener('click', function () {
      var from = parseFloat(li.dataset.from);
      if (from >= 0) { v.currentTime = from; v.play(); }
    });
  });
})();
