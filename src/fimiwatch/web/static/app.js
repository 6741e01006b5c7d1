// fimiwatch workspace: the little behaviour pages need. No inline scripts (the CSP forbids
// them); everything here reads data-* attributes the server wrote, never HTML from input.
"use strict";

function setUpNetwork(svg) {
  const selection = document.getElementById("network-selection");
  const nodes = Array.from(svg.querySelectorAll("circle.node"));
  const edges = Array.from(svg.querySelectorAll("line.edge"));
  function show(account) {
    const linked = new Set([account]);
    edges.forEach((edge) => {
      const touches = edge.dataset.a === account || edge.dataset.b === account;
      edge.classList.toggle("dim", !touches);
      if (touches) { linked.add(edge.dataset.a); linked.add(edge.dataset.b); }
    });
    nodes.forEach((node) => {
      node.classList.toggle("dim", !linked.has(node.dataset.account));
      node.classList.toggle("selected", node.dataset.account === account);
    });
    if (selection) {
      selection.textContent = account + ": linked to " + (linked.size - 1) + " accounts";
    }
  }
  function reset() {
    nodes.concat(edges).forEach((el) => el.classList.remove("dim", "selected"));
    if (selection) { selection.textContent = ""; }
  }
  nodes.forEach((node) => {
    node.addEventListener("click", (event) => { event.stopPropagation(); show(node.dataset.account); });
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); show(node.dataset.account); }
    });
  });
  svg.addEventListener("click", reset);
}

function setUpFilters(form) {
  // changing a select applies the filter at once; text fields wait for Enter or the button
  form.querySelectorAll("select").forEach((select) => {
    select.addEventListener("change", () => form.requestSubmit());
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const network = document.getElementById("network");
  if (network) { setUpNetwork(network); }
  const filters = document.getElementById("filters");
  if (filters) { setUpFilters(filters); }
});
