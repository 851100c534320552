// Live twin page: every change of the form runs the scenario through POST /api/twin/run (debounced 300 ms, a
// stale request is aborted), then redraws the PL of every aliquot (Plotly, served by the app) and the aliquot
// table. A refused value is shown beside its box with the server's one-line message. The address follows the
// form (history.replaceState), so a reload or a bookmark renders the same run on the server, without JavaScript.
(function () {
  "use strict";
  const form = document.getElementById("twin-form");
  if (!form) return;
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const status = document.getElementById("twin-status");
  const section = document.getElementById("twin-result");
  const plotDiv = document.getElementById("twin-plot");
  const formError = document.getElementById("form-error");
  const confirmBox = document.getElementById("confirm-box");
  const confirm = document.getElementById("confirm");
  const boxes = Array.from(form.querySelectorAll("input[data-path]"));
  const more = document.getElementById("more");
  const CONFIG = { responsive: true, displaylogo: false, toImageButtonOptions: { format: "svg", filename: "twin-pl" } };
  const DEBOUNCE_MS = 300;
  let timer = null;
  let controller = null;
  window.qdlabTwin = { runs: 0 };

  function shade(t) {  // light -> dark blue with time, as on the compare page
    const v = Math.round(200 - 170 * Math.min(Math.max(t, 0), 1));
    return "rgb(" + Math.round(v * 0.4) + "," + Math.round(v * 0.6 + 40) + "," + (v + 55 > 255 ? 255 : v + 55) + ")";
  }

  function fixed(v, digits) { return v === null || v === undefined ? "—" : Number(v).toFixed(digits); }

  function setMessage(el, text) {
    el.textContent = text || "";
    el.hidden = !text;
  }

  function clearMessages() {
    form.querySelectorAll(".field-error, .field-warning").forEach(function (el) { setMessage(el, ""); });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    setMessage(formError, "");
  }

  function parseMore(text) {  // the same reading as the server's qdlab.web.twinrun.parse_more
    const out = {};
    const lines = text.split(/\r?\n/);
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n].split("#")[0].trim();
      if (!line) continue;
      const eq = line.indexOf("=");
      const path = eq < 0 ? "" : line.slice(0, eq).trim();
      const value = eq < 0 ? "" : line.slice(eq + 1).trim();
      if (!path || !value) {
        throw new Error("line " + (n + 1) + ": write one override per line as dotted.path = value, e.g. " +
                        "params.k_growth = 0.002; got “" + line + "”");
      }
      try { out[path] = JSON.parse(value); } catch (e) { out[path] = value; }
    }
    return out;
  }

  function overrides() {
    const out = {};
    boxes.forEach(function (input) {
      const text = input.value.trim();
      if (!text) return;
      const n = Number(text.replace(",", "."));
      out[input.dataset.path] = Number.isFinite(n) ? n : text;  // text goes as typed: the server names the box
    });
    return Object.assign(out, parseMore(more.value));
  }

  function boxOf(field) {
    if (!field) return null;
    if (field === "scenario") return document.getElementById("scenario");
    const box = boxes.find(function (input) { return input.dataset.path === field; });
    return box || more;
  }

  function showError(field, detail) {
    const box = boxOf(field);
    if (!box) { setMessage(formError, detail); return; }
    const shown = box === more || !field ? detail : detail.replace(field + ": ", "");
    box.setAttribute("aria-invalid", "true");
    setMessage(document.getElementById(box.id + "-error"), shown);
  }

  function showWarnings(warnings, ran) {
    warnings.forEach(function (w) {
      const box = boxOf(w.field);
      const el = box && document.getElementById(box.id + "-warning");
      if (el) setMessage(el, w.message + (ran ? "" : " Tick “run anyway” to simulate it all the same."));
      else setMessage(formError, w.message);
    });
  }

  function draw(payload) {
    const spectra = payload.pl_spectra;
    const tmax = Math.max(1, ...spectra.time_min);
    const traces = spectra.intensity.map(function (y, i) {
      let m = 0;
      y.forEach(function (v) { if (v > m) m = v; });
      const row = payload.aliquots[i];
      return { x: spectra.wavelength_nm, y: m > 0 ? y.map(function (v) { return v / m; }) : y, mode: "lines",
               name: spectra.aliquots[i] + " (" + fixed(spectra.time_min[i], 0) + " min)" + (row.bimodal ? " bimodal" : ""),
               line: { width: 1.5, color: shade(spectra.time_min[i] / tmax), dash: row.bimodal ? "dash" : "solid" } };
    });
    const layout = { margin: { t: 10 }, xaxis: { title: { text: "wavelength (nm)" } },
                     yaxis: { title: { text: "PL (each aliquot normalised)" } }, legend: { font: { size: 10 } } };
    return Plotly.react(plotDiv, traces, layout, CONFIG);
  }

  function table(payload) {
    const body = document.querySelector("#aliquots tbody");
    body.replaceChildren(...payload.aliquots.map(function (a) {
      const tr = document.createElement("tr");
      [a.aliquot_id, fixed(a.time_min, 1), fixed(a.pl_peak_nm, 0), fixed(a.fwhm_mev, 0), fixed(a.mean_diameter_nm, 2),
       fixed(a.diameter_std_nm, 2), fixed(a.secondary_mass_fraction, 2), fixed(a.secondary_fraction, 2),
       a.bimodal ? "yes" : "no", fixed(a.cluster_fraction, 3)].forEach(function (text) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      });
      return tr;
    }));
  }

  function show(scenario, payload) {
    section.hidden = false;
    section.classList.remove("stale");
    document.getElementById("twin-title").textContent = scenario;
    const w = payload.pl_spectra.window_nm;
    document.getElementById("twin-note").textContent = "Mass-balance error: " +
      Number(payload.mass_balance_error).toExponential(1) + (w ? "; PL peak, FWHM and bimodality read in the " +
      "scenario's detector window, " + w[0].toFixed(0) + "–" + w[1].toFixed(0) + " nm." : ".");
    table(payload);
    return draw(payload).then(function () {
      plotDiv.dataset.ready = "1";
      window.qdlabTwin.runs += 1;
      section.dataset.run = String(window.qdlabTwin.runs);
    });
  }

  function address() {  // the same form as a GET: bookmarkable, and what a reload renders on the server
    const params = new URLSearchParams();
    new FormData(form).forEach(function (v, k) { if (String(v).trim()) params.append(k, v); });
    return "/twin?" + params.toString();
  }

  function run() {
    clearTimeout(timer);
    if (controller) controller.abort();  // the answer to an older form is no longer wanted
    clearMessages();
    const scenario = document.getElementById("scenario").value;
    let body;
    try {
      body = { scenario: scenario, overrides: overrides() };
    } catch (e) {
      showError("more", e.message);
      return;
    }
    history.replaceState(null, "", address());
    controller = new AbortController();
    const mine = controller;
    status.textContent = "running…";
    section.classList.add("stale");
    fetch("/api/twin/run", { method: "POST", headers: { "Content-Type": "application/json" },
                             body: JSON.stringify(body), signal: mine.signal })
      .then(function (r) {
        return r.json().then(function (j) { return { ok: r.ok, status: r.status, body: j }; });
      })
      .then(function (res) {
        if (mine !== controller) return;
        status.textContent = "";
        if (!res.ok) {
          const detail = res.body.detail;
          const text = Array.isArray(detail) ? detail.map(function (d) { return d.msg; }).join("; ") : String(detail);
          showError(res.body.field, text);
          return;
        }
        const warnings = res.body.warnings || [];
        const ran = warnings.length === 0 || confirm.checked;
        confirmBox.hidden = warnings.length === 0;
        showWarnings(warnings, ran);
        if (ran) return show(scenario, res.body);
      })
      .catch(function (e) {
        if (e.name === "AbortError") return;
        status.textContent = "";
        setMessage(formError, "The twin did not answer (" + e.message + "); try again.");
      });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  }

  function placeholders() {  // an empty box means the scenario's own value: show it greyed
    const d = data.defaults[document.getElementById("scenario").value] || {};
    boxes.forEach(function (input) {
      const v = d[input.name];
      input.placeholder = v === null || v === undefined ? "" : String(Number(v.toPrecision(4)));
    });
  }

  form.addEventListener("input", later);
  form.addEventListener("change", function (e) {
    if (e.target.id === "scenario") placeholders();
    if (e.target.tagName === "SELECT" || e.target.type === "checkbox") run();
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); run(); });
  if (data.payload) show(data.scenario, data.payload);
})();
