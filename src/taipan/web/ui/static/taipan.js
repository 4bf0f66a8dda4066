// Taipan's pages work without this file. It adds: copy buttons, type-to-confirm for
// dangerous buttons, and drag-and-drop uploads with one progress bar per file.
// Text from the server or from files is only ever set with textContent, never as HTML.
"use strict";
(function () {
  document.documentElement.classList.add("has-js");

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function humanSize(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
  }

  // -- copy buttons ------------------------------------------------------------------
  function copyText(text, button) {
    const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
    } else {
      fallbackCopy(text, done);
    }
  }
  function fallbackCopy(text, done) {
    const area = el("textarea", { readonly: "", class: "offscreen" });
    area.value = text;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selectable */ }
    area.remove();
  }
  document.querySelectorAll("[data-copy]").forEach((block) => {
    const wrap = el("div", { class: "copyable" });
    block.parentNode.insertBefore(wrap, block);
    wrap.appendChild(block);
    const button = el("button", { type: "button", class: "copy secondary", "aria-label": "Copy to clipboard" }, "Copy");
    button.addEventListener("click", () => copyText(block.textContent.trim(), button));
    wrap.appendChild(button);
  });

  // -- type the name to confirm --------------------------------------------------------
  document.querySelectorAll("input[data-confirm]").forEach((input) => {
    const button = input.form && input.form.querySelector("button[type=submit]");
    if (!button) return;
    const check = () => { button.disabled = input.value !== input.dataset.confirm; };
    input.addEventListener("input", check);
    check();
  });

  // -- uploads -----------------------------------------------------------------------------
  const zone = document.getElementById("dropzone");
  if (!zone) return;
  const form = zone.closest("form");
  const picker = form.querySelector("input[type=file]");
  const list = document.getElementById("uploads");
  const channel = zone.dataset.channel;
  const maxSize = Number(zone.dataset.max);
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  const forceBox = form.querySelector("input[name=force]");
  const queue = [];
  let running = 0;
  const PARALLEL = 2;

  function addFiles(files) {
    for (const file of files) {
      queue.push({ file: file, force: forceBox && forceBox.checked, row: makeRow(file) });
    }
    pump();
  }

  function makeRow(file) {
    const li = el("li", { class: "upload" });
    li.appendChild(el("div", { class: "name" }, file.name));
    const bar = el("progress", { max: "1", value: "0", "aria-label": "Upload of " + file.name });
    li.appendChild(bar);
    li.appendChild(el("div", { class: "status meta" }, humanSize(file.size) + " — waiting"));
    list.appendChild(li);
    return li;
  }

  function setStatus(li, text, kind) {
    const status = li.querySelector(".status");
    status.textContent = text;
    status.className = "status " + (kind || "meta");
    li.dataset.state = kind || "running";
  }

  function pump() {
    while (running < PARALLEL && queue.length) {
      running++;
      send(queue.shift()).finally(() => { running--; pump(); });
    }
  }

  function send(job) {
    const file = job.file;
    const li = job.row;
    if (!/\.(conda|tar\.bz2)$/.test(file.name)) {
      setStatus(li, "Not sent: a conda package's name ends in .conda or .tar.bz2.", "failed");
      return Promise.resolve();
    }
    if (file.size > maxSize) {
      setStatus(li, "Not sent: larger than the limit of " + humanSize(maxSize) + ".", "failed");
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      const bar = li.querySelector("progress");
      xhr.open("POST", "/api/v1/upload/" + encodeURIComponent(channel) + (job.force ? "?force=true" : ""));
      try {
        xhr.setRequestHeader("X-File-Name", file.name);
      } catch (e) {
        setStatus(li, "Not sent: the file name has characters a package name may not have.", "failed");
        resolve();
        return;
      }
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) {
          bar.value = e.loaded / e.total;
          setStatus(li, humanSize(e.loaded) + " of " + humanSize(e.total), "meta");
        }
      });
      xhr.upload.addEventListener("load", () => setStatus(li, "Checking and indexing…", "meta"));
      xhr.addEventListener("load", () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: say the status */ }
        if (xhr.status === 200) {
          bar.value = 1;
          setStatus(li, "Stored as " + body.subdir + "/" + body.filename + (body.replaced ? " (replaced)" : ""), "ok");
          const name = file.name.replace(/\.(conda|tar\.bz2)$/, "").split("-").slice(0, -2).join("-");
          const link = el("a", { href: "/channels/" + encodeURIComponent(channel) + "/packages/" + encodeURIComponent(name) }, "Open " + name);
          li.appendChild(link);
        } else {
          setStatus(li, "Refused (" + xhr.status + "): " + (body.error || xhr.statusText || "no reason given"), "failed");
          if (xhr.status === 409) {
            const again = el("button", { type: "button", class: "secondary" }, "Replace it");
            again.addEventListener("click", () => {
              again.remove();
              queue.push({ file: file, force: true, row: li });
              bar.value = 0;
              pump();
            });
            li.appendChild(again);
          }
        }
        resolve();
      });
      xhr.addEventListener("error", () => { setStatus(li, "The connection failed before the server answered.", "failed"); resolve(); });
      xhr.addEventListener("abort", () => { setStatus(li, "Cancelled.", "failed"); resolve(); });
      setStatus(li, "Sending…", "meta");
      xhr.send(file); // the browser streams the File from disk; it is never read whole here
    });
  }

  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => {
    e.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) addFiles(Array.from(e.dataTransfer.files));
  });
  picker.addEventListener("change", () => {
    addFiles(Array.from(picker.files));
    picker.value = "";
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault(); // files picked are sent as soon as they are chosen
  });
})();
