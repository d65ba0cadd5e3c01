// evalstack review: keyboard navigation and labelling (no inline script: the page's CSP forbids it).
document.addEventListener("keydown", function (ev) {
  var t = ev.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) {
    if (ev.key === "Escape") { t.blur(); }
    return;
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
  var go = function (id) { var a = document.getElementById(id); if (a) { window.location.href = a.href; } };
  if (ev.key === "j") { go("next"); }
  else if (ev.key === "k") { go("prev"); }
  else if (ev.key === "u") { go("back"); }
  else if (ev.key === "n" || ev.key === "c") {
    var f = document.getElementById(ev.key === "n" ? "note" : "corrected");
    if (f) { ev.preventDefault(); f.focus(); }
  } else if (/^[1-4]$/.test(ev.key)) {
    var radios = document.querySelectorAll("#label-form input[name=label]");
    var r = radios[parseInt(ev.key, 10) - 1];
    if (r) { r.checked = true; document.getElementById("label-form").submit(); }
  }
});
