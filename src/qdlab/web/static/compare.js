// Compare page: PL of the aliquots of one or two experiments (solid, dashed) and a twin run (dotted),
// each normalised to its maximum; PL peak against time with the twin's curve. Plotly is served by the app.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const CONFIG = { responsive: true, displaylogo: false, toImageButtonOptions: { format: "svg", filename: "compare" } };
  const DASH = ["solid", "dash"];
  const MARK = ["circle", "square"];
  const PALETTE = ["#0072B2", "#D55E00", "#009E73"];
  window.qdlabPlots = {};

  function shade(t) {  // light -> dark blue with time (colour-blind safe single hue)
    const v = Math.round(200 - 170 * Math.min(Math.max(t, 0), 1));
    return "rgb(" + Math.round(v * 0.4) + "," + Math.round(v * 0.6 + 40) + "," + (v + 55 > 255 ? 255 : v + 55) + ")";
  }

  function normalised(y) {
    let m = 0;
    y.forEach(function (v) { if (v > m) m = v; });
    return m > 0 ? y.map(function (v) { return v / m; }) : y;
  }

  const tmax = Math.max(1, ...data.series.flatMap(function (s) { return s.spectra.map(function (p) { return p.time_min || 0; }); }),
                        ...(data.twin ? data.twin.time_min : [0]));
  const spec = [];
  data.series.forEach(function (s, k) {
    s.spectra.forEach(function (p) {
      spec.push({ x: p.wavelength_nm, y: normalised(p.intensity), mode: "lines", name: s.key + " " + p.aliquot,
                  line: { dash: DASH[k % 2], width: 1.5, color: shade((p.time_min || 0) / tmax) } });
    });
  });
  if (data.twin) {
    data.twin.spectra.forEach(function (p) {
      spec.push({ x: p.wavelength_nm, y: normalised(p.intensity), mode: "lines", name: "twin " + p.aliquot,
                  line: { dash: "dot", width: 1.5, color: shade(p.time_min / tmax) } });
    });
  }
  const specDiv = document.getElementById("compare-spectra");
  Plotly.newPlot(specDiv, spec, { margin: { t: 10 }, xaxis: { title: { text: "wavelength (nm)" } },
                                  yaxis: { title: { text: "PL (normalised)" } }, showlegend: false }, CONFIG)
    .then(function () { specDiv.dataset.ready = "1"; });
  window.qdlabPlots.spectra = specDiv;

  const peaks = [];
  data.series.forEach(function (s, k) {
    const rows = s.rows.filter(function (r) { return r.pl_peak_nm !== null && r.time_min !== null; });
    peaks.push({ x: rows.map(function (r) { return r.time_min; }), y: rows.map(function (r) { return r.pl_peak_nm; }),
                 mode: "markers", name: s.key, marker: { symbol: MARK[k % 2], size: 9, color: PALETTE[k] } });
  });
  if (data.twin) {
    peaks.push({ x: data.twin.time_min, y: data.twin.pl_peak_nm, mode: "lines+markers", name: "twin " + data.twin.scenario,
                 line: { dash: "dot", color: PALETTE[2] }, marker: { size: 5, color: PALETTE[2] } });
  }
  const peakDiv = document.getElementById("compare-peaks");
  Plotly.newPlot(peakDiv, peaks, { margin: { t: 10 }, xaxis: { title: { text: "time (min)" } },
                                   yaxis: { title: { text: "PL peak (nm)" } }, legend: { orientation: "h" } }, CONFIG)
    .then(function () { peakDiv.dataset.ready = "1"; });
  window.qdlabPlots.peaks = peakDiv;
})();
