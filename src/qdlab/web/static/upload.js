// Upload with a progress bar for the transfer; the job page then shows the analysis as it runs.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest) return;
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const bar = document.getElementById("upload-progress");
    const xhr = new XMLHttpRequest();
    bar.hidden = false;
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = e.loaded / e.total; };
    xhr.onload = function () {
      if (xhr.status === 202) { window.location = "/upload/" + JSON.parse(xhr.responseText).id; return; }
      let msg = "The upload failed (HTTP " + xhr.status + ").";
      try { msg = JSON.parse(xhr.responseText).detail || msg; } catch (e) { /* not JSON */ }
      let box = document.getElementById("form-error");
      if (!box) { box = document.createElement("p"); box.id = "form-error"; box.className = "error"; form.after(box); }
      box.textContent = typeof msg === "string" ? msg : JSON.stringify(msg);
      bar.hidden = true;
    };
    xhr.open("POST", "/api/uploads");
    xhr.send(new FormData(form));
  });
})();
