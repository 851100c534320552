// Experiments list: type to search, pick a material or synthetic/measured, click a column head to sort.
(function () {
  const table = document.getElementById("experiments");
  if (!table) return;
  const rows = Array.from(table.tBodies[0].rows);
  const q = document.getElementById("search"), mat = document.getElementById("material"),
        kind = document.getElementById("origin"), count = document.getElementById("shown");
  function apply() {
    const text = (q.value || "").toLowerCase();
    let n = 0;
    rows.forEach(function (r) {
      const ok = (!text || r.textContent.toLowerCase().includes(text)) &&
                 (!mat.value || r.dataset.material === mat.value) &&
                 (!kind.value || r.dataset.origin === kind.value);
      r.hidden = !ok; if (ok) n++;
    });
    count.textContent = n + " of " + rows.length + " shown";
  }
  [q, mat, kind].forEach(function (el) { el.addEventListener("input", apply); });
  Array.from(table.tHead.rows[0].cells).forEach(function (th, i) {
    th.classList.add("sortable");
    th.addEventListener("click", function () {
      const asc = th.dataset.dir !== "asc"; th.dataset.dir = asc ? "asc" : "desc";
      rows.sort(function (a, b) {
        const x = a.cells[i].dataset.v || a.cells[i].textContent, y = b.cells[i].dataset.v || b.cells[i].textContent;
        const nx = parseFloat(x), ny = parseFloat(y);
        const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
    });
  });
  apply();
})();
