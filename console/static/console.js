// The console works without this script. With it, the replay slider shows
// each version of a risk as it moves, without a full page load.
(function () {
  "use strict";
  var form = document.querySelector("form[data-replay]");
  if (!form) { return; }
  var slider = form.querySelector("input[type=range]");
  var out = form.querySelector("output");
  var latest = slider.max;
  var pending = null;
  function show(v) {
    out.textContent = v + " of " + latest;
    var url = new URL(form.action).pathname + "?v=" + encodeURIComponent(v);
    if (pending) { pending.abort(); }
    pending = new AbortController();
    fetch(url, { credentials: "same-origin", signal: pending.signal })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var state = doc.getElementById("state");
        if (!state) { return; }
        document.getElementById("state").replaceWith(document.adoptNode(state));
        var tl = doc.querySelector("table.timeline tbody");
        var here = document.querySelector("table.timeline tbody");
        if (tl && here) { here.replaceWith(document.adoptNode(tl)); }
        history.replaceState(null, "", url);
      })
      .catch(function (e) { if (e.name !== "AbortError") { form.submit(); } });
  }
  slider.addEventListener("input", function () { show(slider.value); });
  slider.addEventListener("change", function () { show(slider.value); });
})();
