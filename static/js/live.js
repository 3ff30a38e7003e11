// Live pages (webapp/live.py). A region that follows the store says what it follows and what it
// shows: data-live="/live/carts/c1" and data-live-seen="5" (or data-live-seen-in, a selector of
// the field that holds it, for a region whose answers update that field rather than itself).
// This file keeps one EventSource per followed URL; when the mark it hears differs from the one
// a region shows, it fires "live" on the region, whose hx-trigger="live" fetches it again with
// htmx. Where the server has no stream to spare (503) or EventSource fails for good, it polls
// the same URL with If-None-Match instead (304 while nothing changed).
//
// Never under the person's hands: a region holding the focused field (someone typing a
// quantity) is not swapped; it is fetched again once the focus has left it.
(function () {
  "use strict";

  const POLL_MS = 1000;
  const followed = new Map(); // url -> the last mark heard (undefined until the first)
  const behind = new Set(); // urls whose regions put an update off while someone edits them

  function seen(region) {
    const selector = region.dataset.liveSeenIn;
    const field = selector ? document.querySelector(selector) : null;
    return field ? field.value : region.dataset.liveSeen;
  }

  function editing(region) {
    const active = document.activeElement;
    return Boolean(active) && region.contains(active) && active.matches("input, select, textarea");
  }

  function regionsOf(url) {
    return Array.from(document.querySelectorAll("[data-live]")).filter(function (region) {
      return region.dataset.live === url;
    });
  }

  // The regions of `url` wait until no one edits them; data-live-waiting says so (and the
  // stylesheet may).
  function putOff(url) {
    behind.add(url);
    for (const region of regionsOf(url)) region.setAttribute("data-live-waiting", "");
  }

  function refresh(region) {
    if (editing(region)) {
      putOff(region.dataset.live);
      return;
    }
    region.removeAttribute("data-live-waiting");
    htmx.trigger(region, "live");
  }

  // Every region of `url` that shows an older mark than the latest heard asks for itself again,
  // once per mark: a region answered "nothing to change" (204, /ops) keeps its old mark, and
  // must not ask again after every other swap on the page. (Marks are versions and positions:
  // they only grow. A region may be ahead of the mark, when the page's own action answered
  // before the stream told of it.)
  function catchUp(url) {
    const mark = followed.get(url);
    if (mark === undefined) return;
    for (const region of regionsOf(url)) {
      const behindMark = Number(seen(region)) < Number(mark);
      if (behindMark && Number(region.dataset.liveAsked || -1) < Number(mark)) {
        region.dataset.liveAsked = mark;
        refresh(region);
      }
    }
  }

  function heard(url, mark) {
    followed.set(url, mark);
    catchUp(url);
  }

  function poll(url) {
    let etag = null;
    async function once() {
      try {
        const headers = etag ? { "If-None-Match": etag } : {};
        const answer = await fetch(url, { headers: headers, cache: "no-store" });
        if (answer.status === 200) {
          etag = answer.headers.get("ETag");
          heard(url, (await answer.text()).trim());
        }
      } catch (error) {
        // The server is away: the next poll tries again.
      }
      window.setTimeout(once, POLL_MS);
    }
    once();
  }

  function follow(url) {
    if (followed.has(url)) return;
    followed.set(url, undefined);
    if (!window.EventSource) {
      poll(url);
      return;
    }
    const source = new EventSource(url);
    source.addEventListener("changed", function (event) { heard(url, event.data); });
    source.addEventListener("error", function () {
      // A dropped stream reconnects by itself; one refused (503) is closed for good.
      if (source.readyState === EventSource.CLOSED) poll(url);
    });
  }

  htmx.onLoad(function (content) {
    const regions = content.matches && content.matches("[data-live]") ? [content] : [];
    regions.push(...content.querySelectorAll("[data-live]"));
    for (const region of regions) follow(region.dataset.live);
  });

  // A region that changed while it was swapped, or that waited for the focus to leave it.
  document.body.addEventListener("htmx:afterSettle", function () {
    for (const url of followed.keys()) catchUp(url);
  });
  document.addEventListener("focusout", function () {
    window.setTimeout(function () {
      for (const url of Array.from(behind)) {
        behind.delete(url);
        for (const region of regionsOf(url)) {
          delete region.dataset.liveAsked;
          refresh(region);
        }
      }
    }, 0);
  });

  // An answer that arrives while the person is in the region is dropped, for later; so is any
  // part of it that would land out of band where they are (a product card's quantity field).
  let liveAnswer = null; // the region whose live answer is being swapped
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    const trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    if (!trigger || trigger.type !== "live") return;
    const region = event.detail.elt;
    if (editing(event.detail.target)) {
      event.detail.shouldSwap = false;
      putOff(region.dataset.live);
    } else {
      liveAnswer = region;
    }
  });
  document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
    if (liveAnswer && editing(event.detail.target)) {
      event.detail.shouldSwap = false;
      putOff(liveAnswer.dataset.live);
    }
  });
  document.body.addEventListener("htmx:afterSwap", function () { liveAnswer = null; });
})();
