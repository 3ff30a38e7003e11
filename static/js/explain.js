// The "what am I looking at" notes (templates/partials/_explain.html) stay as they were left:
// open or closed, per note, in localStorage. Without JavaScript (or storage) each note is
// simply closed on every page load and opens on click.
(function () {
  "use strict";

  function remember(note) {
    const key = note.dataset.remember;
    try {
      if (window.localStorage.getItem(key) === "open") note.open = true;
    } catch (error) {
      return; // storage refused (private mode, disabled): the note just works unremembered
    }
    note.addEventListener("toggle", function () {
      try {
        window.localStorage.setItem(key, note.open ? "open" : "closed");
      } catch (error) {
        // as above: nothing to remember it in
      }
    });
  }

  document.querySelectorAll("details[data-remember]").forEach(remember);
})();
