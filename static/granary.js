// Granary's few behaviours on top of htmx: the upload progress bar, the size check, copy buttons,
// the search box's type-ahead keys.
(function () {
  "use strict";

  function formatBytes(n) {
    const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    // The same strings as the pages' sizes (catalog/presentation/numbers.py bytes_text).
    if (!i) return n + (n === 1 ? " byte" : " bytes");
    return n.toFixed(1) + " " + units[i];
  }

  function showFileError(form, message) {
    const field = form.querySelector("input[type=file]").closest(".field");
    let error = field.querySelector(".field-error");
    if (!error) {
      error = document.createElement("p");
      error.className = "field-error";
      error.setAttribute("role", "alert");
      field.querySelector("input").after(error);
    }
    field.classList.add("has-error");
    error.textContent = message;
  }

  // Refuse a file over the limit before sending a byte of it.
  document.addEventListener("htmx:confirm", function (event) {
    const form = event.target;
    if (!form.matches || !form.matches("#upload-form")) return;
    const input = form.querySelector("input[type=file]");
    const max = Number(form.dataset.maxBytes || 0);
    if (input && input.files.length && max && input.files[0].size > max) {
      event.preventDefault();
      showFileError(form, "The file is larger than the upload limit of " + formatBytes(max) + ".");
    }
  });

  document.addEventListener("htmx:xhr:progress", function (event) {
    const form = event.target.closest && event.target.closest("#upload-form");
    if (!form || !event.detail.lengthComputable) return;
    const box = form.querySelector(".upload-progress");
    const percent = Math.round((event.detail.loaded / event.detail.total) * 100);
    box.hidden = false;
    form.dataset.sent = event.detail.loaded >= event.detail.total ? "all" : "";
    box.querySelector("progress").value = percent;
    box.querySelector(".upload-progress-text").textContent =
      percent + "% of " + formatBytes(event.detail.total);
  });

  // While a file is on its way htmx disables Upload (hx-disabled-elt) and Cancel shows; Cancel
  // aborts the request and says what became of the file.
  function uploadForm(element) {
    return element && element.closest ? element.closest("#upload-form") : null;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    const form = uploadForm(event.target);
    if (!form) return;
    form.dataset.cancelled = form.dataset.sent = "";
    form.querySelector(".upload-status").textContent = "";
    form.querySelector(".upload-cancel").hidden = false;
  });

  document.addEventListener("click", function (event) {
    const form = uploadForm(event.target.closest && event.target.closest(".upload-cancel"));
    if (!form) return;
    form.dataset.cancelled = "true";
    window.htmx.trigger(form, "htmx:abort");
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = uploadForm(event.target);
    if (!form || !form.isConnected) return;  // replaced by the server's answer
    form.querySelector(".upload-cancel").hidden = true;
    if (!form.dataset.cancelled) return;
    const box = form.querySelector(".upload-progress");
    box.hidden = true;
    box.querySelector("progress").value = 0;
    // Once every byte is sent the server may already be storing the version: say so, not "nothing".
    form.querySelector(".upload-status").textContent = form.dataset.sent === "all"
      ? "Cancelled after the whole file was sent: the server may have stored it, so check the dataset's versions before uploading it again."
      : "Upload cancelled: the file was not stored.";
  });

  // A box that scrolls sideways (a table or code at phone width) must be reachable by keyboard
  // to be scrolled without a mouse: give it a tab stop, only while it overflows.
  function markScrollBoxes(root) {
    root.querySelectorAll("pre, table, .scroll, .lineage-graph").forEach(function (box) {
      const overflows = box.scrollWidth > box.clientWidth + 1;
      if (overflows && !box.hasAttribute("tabindex")) {
        box.tabIndex = 0;
        box.dataset.scrollBox = "true";
      } else if (!overflows && box.dataset.scrollBox) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrollBox;
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { markScrollBoxes(document); });
  document.addEventListener("htmx:afterSettle", function () { markScrollBoxes(document); });
  let resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { markScrollBoxes(document); }, 200);
  });

  // Copy buttons beside code snippets: copy the snippet's text, and say so on the button.
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    const code = document.getElementById(button.dataset.copy).querySelector("pre").textContent;
    const say = function (text) {
      button.textContent = text;
      setTimeout(function () { button.textContent = "Copy"; }, 2500);
    };
    const select = function () {  // no clipboard (plain http on another host, or refused): select it for Ctrl-C
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(button.dataset.copy).querySelector("pre"));
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      say("Selected: press Ctrl+C");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(code).then(function () { say("Copied"); }, select);
    } else {
      select();
    }
  });

  // The server refused the body before reading it (413 from the size gate): say so in the form.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("#upload-form");
    if (form && event.detail.xhr.status === 413 && !event.detail.serverResponse.includes("upload-form")) {
      event.detail.shouldSwap = false;
      showFileError(form, event.detail.serverResponse);
    }
  });

  // The search box's type-ahead (htmx fills .suggestions under it): the arrow keys move between
  // the box and the suggestions, Escape closes them, and a tag or column suggestion turns the
  // word being typed into its filter (`tag:nlp `) instead of leaving the page.
  function searchParts(element) {
    const form = element.closest && element.closest(".discovery-search");
    if (!form) return null;
    return { form: form, input: form.querySelector("input[name=q]"), box: form.querySelector(".suggestions") };
  }

  function closeSuggestions(parts) {
    if (window.htmx) window.htmx.trigger(parts.input, "htmx:abort");  // a late answer must not reopen them
    parts.box.replaceChildren();
  }

  document.addEventListener("keydown", function (event) {
    const parts = searchParts(event.target);
    if (!parts) return;
    const links = Array.from(parts.box.querySelectorAll("a"));
    const index = links.indexOf(event.target);
    if (event.key === "Escape" && links.length) {
      event.preventDefault();  // which would otherwise also clear the box
      closeSuggestions(parts);
      parts.input.focus();
    } else if (event.key === "ArrowDown" && links.length) {
      event.preventDefault();
      links[Math.min(index + 1, links.length - 1)].focus();
    } else if (event.key === "ArrowUp" && index >= 0) {
      event.preventDefault();
      (index === 0 ? parts.input : links[index - 1]).focus();
    }
  });

  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest(".suggestions a[data-fill]");
    const parts = link && searchParts(link);
    if (!parts) return;
    event.preventDefault();
    parts.input.value = link.dataset.fill + " ";
    closeSuggestions(parts);
    parts.input.focus();
  });

  // Leaving the search box and its suggestions closes them.
  document.addEventListener("focusout", function (event) {
    const parts = searchParts(event.target);
    if (parts && !(event.relatedTarget && parts.form.contains(event.relatedTarget))) closeSuggestions(parts);
  });
})();

/* --- owners and readers (issue 15): copy buttons that need this script stay hidden without it --- */
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy][hidden]").forEach(function (button) { button.hidden = false; });
})();
/* --- end owners and readers --- */

/* viewer: Ctrl+Enter (or Cmd+Enter) in the SQL console runs the query, as in other SQL editors. */
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    const area = event.target.closest && event.target.closest("textarea.sql");
    if (!area || !area.form) return;
    event.preventDefault();
    area.form.requestSubmit();
  });
})();
/* end viewer */

// --- quality editor (issue 15): the add-check form shows only the chosen check's fields ---
(function () {
  "use strict";

  function showFields(form) {
    const chosen = form.querySelector("select[name=type]").value;
    form.querySelectorAll(".field[data-checks]").forEach(function (field) {
      field.hidden = field.dataset.checks.split(" ").indexOf(chosen) < 0;
    });
  }

  function setUp() {
    document.querySelectorAll("form.expectation-form").forEach(function (form) {
      form.classList.add("fields-switching");  // the "For: …" notes are for pages without this script
      showFields(form);
    });
  }

  document.addEventListener("change", function (event) {
    const form = event.target.closest && event.target.closest("form.expectation-form");
    if (form && event.target.name === "type") showFields(form);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
// --- end quality editor ---
