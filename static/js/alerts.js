// Alerts that htmx swaps in, brought into sight and announced. Without JavaScript a rejection
// comes on a whole page whose alert has `autofocus`: the browser scrolls to it and a screen
// reader reads it. An htmx answer is swapped wherever its alert belongs (next to the action, or
// in #page-alert at the top), which may be off screen, with the focus left on the button. So,
// after the swap settles, the first alert it brought takes the focus (each has tabindex="-1"),
// which a screen reader reads out, and is scrolled to only if it is not already in sight: the
// page never jumps under an alert the person can see.
//
// Not htmx's own `autofocus` handling: it would also take the focus for the answers to the
// page's own polling (the operations page every few seconds, the receipt's number), and during
// an outage yank the page back to the error at the top on every poll. Those answers are left
// alone here; their alerts still announce themselves (role="alert").
(function () {
  "use strict";

  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  // Triggers the page fires by itself, with no one acting ("every 2s" polls have no event).
  // "live": a region following the store (live.js).
  const BY_THE_PAGE = new Set(["load", "revealed", "intersect", "live"]);
  const handled = new WeakSet(); // requests whose alert has been shown (one answer settles
  // several elements: its target and each out-of-band region)

  function inSight(element) {
    const box = element.getBoundingClientRect();
    return box.top >= 0 && box.bottom <= window.innerHeight;
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    const detail = event.detail;
    const trigger = detail.requestConfig && detail.requestConfig.triggeringEvent;
    if (!trigger || BY_THE_PAGE.has(trigger.type) || handled.has(detail.xhr)) return;
    const settled = event.target;
    if (!(settled instanceof Element)) return;
    const alert = settled.matches("[role=alert]") ? settled : settled.querySelector("[role=alert]");
    if (!alert) return;
    handled.add(detail.xhr);
    alert.focus({ preventScroll: true });
    if (!inSight(alert)) {
      alert.scrollIntoView({ block: "center", behavior: reduceMotion.matches ? "auto" : "smooth" });
    }
  });
})();
