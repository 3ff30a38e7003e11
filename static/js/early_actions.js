// The moment before htmx has taken the page over. htmx loads after the page (defer) and starts at
// DOMContentLoaded; until then every form it upgrades (hx-post and the like) is a plain form, and
// nothing answers "Back" or "Forward" between the entries htmx pushed. A slow machine stretches
// that moment, and a shopper acts in it:
//
// - A submit would POST the old way and load another page in place of the one in use: a
//   rejection would land on the action's own URL, a double click would send twice. So it is held,
//   once per form however often it is clicked, and made again once htmx has processed the form.
// - "Back" to an entry htmx pushed would change the address and nothing else, for good. So the
//   page reloads at that address, as htmx itself does on such a visit (htmx-config: no history
//   cache, refresh on a miss).
//
// If htmx never arrives (it failed to load), held submits go the old way after all: the page
// works as it does without JavaScript. Loaded without defer, before anything it must guard.
(function () {
  "use strict";

  const UPGRADED = ["get", "post", "put", "patch", "delete"]
    .flatMap((verb) => ["[hx-" + verb + "]", "[data-hx-" + verb + "]"])
    .join(",");
  const DISABLED = "[hx-disable],[data-hx-disable]"; // htmx leaves these alone: so do we
  const held = new Map(); // form -> the button that submitted it (null after Enter)
  let htmxState = "loading"; // then "ready", or "missing" if it failed to load

  function resubmit(form, submitter) {
    if (!form.isConnected) return; // swapped away meanwhile: nothing left to submit
    if (submitter && submitter.isConnected && submitter.form === form) {
      submitter.click(); // as the person did: htmx notes the button, then sees the submit
    } else {
      form.requestSubmit();
    }
  }

  // On the document, so after the form's own listeners: a submit htmx took is cancelled by now.
  // One it did not take is from a form htmx has not processed: before it started, or (with a
  // settle delay) just swapped in.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (event.defaultPrevented || htmxState === "missing" || !(form instanceof HTMLFormElement)) return;
    if (!form.matches(UPGRADED) || form.closest(DISABLED)) return;
    event.preventDefault();
    if (!held.has(form)) held.set(form, event.submitter);
  });

  // htmx has attached its listeners to the form; let it finish processing the rest first.
  document.addEventListener("htmx:afterProcessNode", function (event) {
    const form = event.target;
    if (!held.has(form)) return;
    const submitter = held.get(form);
    held.delete(form);
    window.setTimeout(function () {
      resubmit(form, submitter);
    }, 0);
  });

  window.addEventListener("popstate", function (event) {
    if (htmxState !== "ready" && event.state && event.state.htmx) window.location.reload();
  });

  // Deferred scripts have run, or failed, by now. htmx starts in this same event, right after
  // this listener (registered first): no event comes between the two.
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      htmxState = "ready";
      return;
    }
    htmxState = "missing";
    const waiting = Array.from(held);
    held.clear();
    for (const [form, submitter] of waiting) resubmit(form, submitter);
  });
})();
