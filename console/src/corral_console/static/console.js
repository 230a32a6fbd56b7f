// Sorting and filtering of the console's tables in the browser: no network, no library.
"use strict";
function cellValue(row, index, numeric) {
  const cell = row.cells[index];
  if (!cell) return numeric ? 0 : "";
  const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
  return numeric ? parseFloat(raw) || 0 : raw.toLowerCase();
}
function sortBy(table, index, numeric, header) {
  const body = table.tBodies[0];
  const descending = header.dataset.order === "asc";
  for (const th of table.tHead.rows[0].cells) delete th.dataset.order;
  header.dataset.order = descending ? "desc" : "asc";
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
    const order = x < y ? -1 : x > y ? 1 : 0;
    return descending ? -order : order;
  });
  body.append(...rows);
}
function filterRows(table, text) {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  for (const row of table.tBodies[0].rows) {
    const content = row.textContent.toLowerCase();
    row.hidden = !words.every((word) => content.includes(word));
  }
}
document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.sortable")) {
    Array.from(table.tHead.rows[0].cells).forEach((th, index) => {
      if (!th.dataset.sort) return;
      th.addEventListener("click", () => sortBy(table, index, th.dataset.sort === "num", th));
    });
  }
  for (const input of document.querySelectorAll("input.filter")) {
    const table = document.getElementById(input.dataset.table);
    if (table) input.addEventListener("input", () => filterRows(table, input.value));
  }
});
