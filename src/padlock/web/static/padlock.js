/* padlock: progressive enhancement only; every page works without this file.
   - copy buttons on code blocks;
   - the CSR form's live preview (POST /csr/preview); a private key is never sent;
   - the OV fields shown only when OV is chosen. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function addCopyButtons() {
    document.querySelectorAll(".copy").forEach(function (block) {
      var pre = block.querySelector("pre");
      if (!pre || block.querySelector(".copy-button") || !navigator.clipboard) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy-button";
      button.textContent = "Copy";
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(pre.innerText.replace(/\n$/, "")).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        });
      });
      block.appendChild(button);
    });
  }

  function setupRequestForm() {
    var form = document.getElementById("request-form");
    if (!form) return;
    var area = form.querySelector("[data-csr-input]");
    var out = document.getElementById("csr-analysis");
    var orgFields = form.querySelector("[data-ov-only]");
    var warning = document.getElementById("private-key-warning");
    var timer = null;
    var sequence = 0;
    var lastSent = null;

    function kind() {
      var chosen = form.querySelector('input[name="kind"]:checked') ||
        form.querySelector('input[name="kind"][type="hidden"]');
      return chosen ? chosen.value : "test";
    }

    function toggleOrg() {
      if (orgFields) orgFields.hidden = kind() !== "ov";
    }

    function preview() {
      var text = area.value;
      if (/PRIVATE KEY/.test(text)) {
        // Never send a private key anywhere, not even to the preview.
        area.value = "";
        lastSent = null;
        if (warning) out.innerHTML = warning.innerHTML;
        return;
      }
      var body = JSON.stringify({ csr: text, kind: kind() });
      if (body === lastSent) return;
      lastSent = body;
      var mine = ++sequence;
      out.setAttribute("aria-busy", "true");
      fetch("/csr/preview", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        body: body
      }).then(function (response) {
        return response.json();
      }).then(function (doc) {
        if (mine !== sequence || typeof doc.html !== "string") return;
        out.innerHTML = doc.html; // rendered and escaped by the server's template
        out.setAttribute("data-kind", doc.analysis ? doc.analysis.kind : "");
      }).catch(function () {
        lastSent = null; // the form's own "Check CSR" button still works
      }).finally(function () {
        if (mine === sequence) out.removeAttribute("aria-busy");
      });
    }

    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(preview, 300);
    });
    form.addEventListener("change", function (event) {
      if (event.target && event.target.name === "kind") {
        toggleOrg();
        if (area.value.trim()) preview();
      }
    });
    toggleOrg();
  }

  function ready() {
    addCopyButtons();
    setupRequestForm();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
