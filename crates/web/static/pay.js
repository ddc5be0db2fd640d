// The result page asks the server where the payment stands every two seconds and
// reloads once the answer changes (and, once paid, once the hospital system has
// delivered it). Success is only ever rendered by the server.
(function () {
  var el = document.getElementById("result");
  if (!el) return;
  var delivering = el.dataset.outcome === "paid" && el.dataset.state === "paid";
  if (el.dataset.outcome !== "pending" && !delivering) return;
  var tries = 0;
  function poll() {
    tries += 1;
    fetch("/api/v1/me/orders/" + encodeURIComponent(el.dataset.order), { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (o) {
        if (o && (delivering ? o.state !== "paid" : o.outcome !== "pending")) { window.location.reload(); return; }
        if (tries < 90) setTimeout(poll, 2000);
      })
      .catch(function () { if (tries < 90) setTimeout(poll, 4000); });
  }
  setTimeout(poll, 1500);
})();
