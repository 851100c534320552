// Experiment page: PL and absorption of every aliquot (zoom, wavelength <-> energy with the Jacobian,
// normalise, offset), PL peak / FWHM / QY against time, twin vs measured. Plotly is served by the app.
(function () {
  "use strict";
  const HC_EV_NM = 1239.8419843320026;  // h c in eV nm (CODATA 2018), as qdlab.units.HC_EV_NM
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const CIVIDIS = [[0, 32, 76], [65, 77, 107], [124, 123, 120], [188, 175, 111], [255, 233, 69]];
  const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
  const CONFIG = { responsive: true, displaylogo: false,
                   toImageButtonOptions: { format: "svg", filename: data.key } };
  window.qdlabPlots = {};

  function cividis(t) {
    const s = Math.min(Math.max(t, 0), 1) * (CIVIDIS.length - 1), i = Math.min(Math.floor(s), CIVIDIS.length - 2);
    const f = s - i, c = CIVIDIS[i].map(function (v, k) { return Math.round(v + f * (CIVIDIS[i + 1][k] - v)); });
    return "rgb(" + c.join(",") + ")";
  }

  // I(E) dE = I(lambda) dlambda  =>  I(E) = I(lambda) * lambda^2 / (h c)
  function toEnergy(lam, y) {
    return { x: lam.map(function (l) { return HC_EV_NM / l; }),
             y: y.map(function (v, j) { return v * lam[j] * lam[j] / HC_EV_NM; }) };
  }

  // density: PL is a spectral density (counts per nm) and takes the Jacobian; absorbance is a ratio and does not
  function spectraPlot(kind, ylabel, density) {
    const div = document.getElementById(kind + "-plot");
    if (!div) return;
    const form = document.getElementById(kind + "-controls");
    const st = { kind: kind, axis: "wavelength", spectra: [], div: div };
    window.qdlabPlots[kind] = st;

    function draw(keepRange) {
      const norm = form.normalise.checked, offset = form.offset.checked, n = st.spectra.length;
      const traces = st.spectra.map(function (s, i) {
        let xy = { x: s.wavelength_nm, y: s.intensity };
        if (st.axis === "energy") {
          xy = density ? toEnergy(s.wavelength_nm, s.intensity)
                       : { x: s.wavelength_nm.map(function (l) { return HC_EV_NM / l; }), y: s.intensity };
        }
        let y = xy.y;
        if (norm) { const m = Math.max.apply(null, y.filter(isFinite)); if (m > 0) y = y.map(function (v) { return v / m; }); }
        if (offset) { const step = norm ? 0.6 : 0; y = y.map(function (v) { return v + i * step; }); }
        return { x: xy.x, y: y, name: s.aliquot + (s.time_min !== null ? " · " + s.time_min + " min" : ""),
                 type: "scatter", mode: "lines", line: { color: cividis(n > 1 ? 0.9 * i / (n - 1) : 0), width: 1.5 },
                 hovertemplate: "%{x:.4g}, %{y:.3g}<extra>" + s.aliquot + "</extra>" };
      });
      const energy = st.axis === "energy";
      const layout = {
        margin: { l: 60, r: 10, t: 10, b: 50 }, hovermode: "closest",
        xaxis: { title: { text: energy ? "photon energy (eV)" : "wavelength (nm)" } },
        yaxis: { title: { text: (norm ? "normalised " : "") + ylabel + (density ? (energy ? " per eV" : " per nm") : "") +
                          (offset && norm ? " (offset)" : "") }, showticklabels: !(offset && norm) },
        legend: { orientation: "h", y: -0.2 }, font: { family: "system-ui, sans-serif", size: 12 },
      };
      if (keepRange) { layout.xaxis.range = keepRange; layout.xaxis.autorange = false; }
      div.dataset.axis = st.axis;
      return Plotly.react(div, traces, layout, CONFIG);
    }
    st.draw = draw;
    form.addEventListener("change", function (ev) {
      // keep the zoomed window: as it is for normalise/offset, converted (lambda = hc / E) for the axis switch
      const ax = div.layout && div.layout.xaxis;
      let range = ax && ax.autorange === false && ax.range ? ax.range.slice() : null;
      if (ev.target.name === "axis") {
        if (range) range = [HC_EV_NM / range[1], HC_EV_NM / range[0]];
        st.axis = form.axis.value;
      }
      draw(range);
    });
    fetch(data.api + "/spectra/" + kind).then(function (r) {
      if (!r.ok) throw new Error("spectra " + kind + ": HTTP " + r.status);
      return r.json();
    }).then(function (j) { st.spectra = j.spectra; return draw(null); })
      .then(function () { div.dataset.ready = "1"; });
  }

  function trendsPlot() {
    const div = document.getElementById("trends-plot");
    if (!div || !data.rows.length) return;
    const withTime = data.rows.every(function (r) { return r.time_min !== null; });
    const x = data.rows.map(function (r, i) { return withTime ? r.time_min : r.aliquot; });
    const panels = [["pl_peak_nm", "PL peak (nm)", "y"], ["fwhm_mev", "FWHM (meV)", "y2"], ["qy_percent", "PLQY (%)", "y3"]];
    const traces = panels.map(function (p, k) {
      return { x: x, y: data.rows.map(function (r) { return r[p[0]]; }), yaxis: p[2], name: p[1],
               type: "scatter", mode: "lines+markers", marker: { color: PALETTE[k] }, line: { color: PALETTE[k] },
               text: data.rows.map(function (r) { return r.aliquot; }),
               hovertemplate: "%{text}: %{y:.4g}<extra>" + p[1] + "</extra>" };
    });
    if (data.twin) {
      traces.push({ x: data.twin.time_min, y: data.twin.pl_peak_nm, yaxis: "y", name: "twin (calibrated)",
                    type: "scatter", mode: "lines", line: { color: "#555", dash: "dash" } });
    }
    const layout = {
      margin: { l: 60, r: 10, t: 10, b: 50 }, showlegend: !!data.twin, legend: { orientation: "h", y: -0.12 },
      grid: { rows: 3, columns: 1, pattern: "independent" },
      xaxis: { title: { text: withTime ? "time since injection start (min)" : "aliquot" }, anchor: "y3" },
      yaxis: { title: { text: "PL peak (nm)" }, domain: [0.7, 1] },
      yaxis2: { title: { text: "FWHM (meV)" }, domain: [0.36, 0.64] },
      yaxis3: { title: { text: "PLQY (%)" }, domain: [0, 0.3] },
      font: { family: "system-ui, sans-serif", size: 12 },
    };
    traces.forEach(function (t) { t.xaxis = "x"; });
    Plotly.react(div, traces, layout, CONFIG).then(function () { div.dataset.ready = "1"; });
    window.qdlabPlots.trends = { div: div };
  }

  spectraPlot("pl", "PL intensity", true);
  spectraPlot("absorbance", "absorbance", false);
  trendsPlot();
})();
