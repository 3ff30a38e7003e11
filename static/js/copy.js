// "Copy" buttons: a button with data-copy="<selector>" copies that element's text to the
// clipboard and says so in the element whose id is the button's plus "-status". The buttons
// are hidden in the page, for without script the text is there to select; this shows them,
// also those htmx brings later. Where the clipboard is refused, the text is selected instead.
(function () {
  "use strict";

  function reveal() {
    for (const button of document.querySelectorAll("button[data-copy][hidden]")) button.hidden = false;
  }

  function selectText(element) {
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copy(button) {
    const source = document.querySelector(button.dataset.copy);
    const status = document.getElementById(button.id + "-status");
    if (!source) return;
    function fallBack() {
      selectText(source);
      if (status) status.textContent = "Selected: copy it with your keyboard.";
    }
    if (!navigator.clipboard) {
      fallBack();
      return;
    }
    navigator.clipboard.writeText(source.textContent).then(function () {
      if (status) status.textContent = "Copied.";
    }, fallBack);
  }

  document.addEventListener("click", function (event) {
    const button = event.target instanceof Element && event.target.closest("button[data-copy]");
    if (button) copy(button);
  });
  document.addEventListener("htmx:afterSettle", reveal);
  reveal();
})();
