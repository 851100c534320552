// Experiments list. Without JavaScript the filter form and the column links work through the server (query
// parameters, bookmarkable); here: the search narrows the rows as you type (and the address keeps it), and a
// changed filter (material, target, tag, dates, data) applies at once.
(function () {
  const table = document.getElementById("experiments"), form = document.getElementById("filters");
  if (!table || !form) return;
  const rows = Array.from(table.tBodies[0].rows).filter(function (r) { return !r.querySelector("#none-match"); });
  const q = document.getElementById("search"), count = document.getElementById("shown");
  function apply() {
    const text = (q.value || "").toLowerCase();
    let n = 0;
    rows.forEach(function (r) {
      const ok = !text || r.textContent.toLowerCase().includes(text);
      r.hidden = !ok; if (ok) n++;
    });
    count.textContent = n + " of " + count.dataset.total + " shown";
    const url = new URL(window.location.href);
    if (text) url.searchParams.set("q", q.value); else url.searchParams.delete("q");
    window.history.replaceState(null, "", url.pathname + url.search);
  }
  count.dataset.total = (count.textContent.match(/of (\d+)/) || [0, rows.length])[1];
  q.addEventListener("input", apply);
  ["material", "target", "tag", "origin", "date-from", "date-to"].forEach(function (id) {
    const el = document.getElementById(id);
    if (el) el.addEventListener("change", function () { form.requestSubmit(); });
  });
  form.addEventListener("submit", function () {  // leave empty boxes out of the address
    Array.from(form.elements).forEach(function (el) { if (el.name && !el.value) el.disabled = true; });
  });
  window.addEventListener("pageshow", function () {  // back from the filtered page: the boxes usable again
    Array.from(form.elements).forEach(function (el) { el.disabled = false; });
  });
  if (q.value) apply();
})();
