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

// The pay page counts the hold down from what the server said was left (the phone's own
// clock may be wrong); at zero it says so and stops offering payment.
(function () {
  var el = document.getElementById("hold");
  if (!el) return;
  var left = parseInt(el.dataset.secondsLeft, 10);
  var out = document.getElementById("hold-left");
  if (isNaN(left)) return;
  var end = Date.now() + left * 1000;
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var s = Math.max(0, Math.round((end - Date.now()) / 1000));
    if (s > 0 && out) {
      out.textContent = "剩余 " + two(Math.floor(s / 60)) + ":" + two(s % 60);
      setTimeout(tick, 1000);
      return;
    }
    el.textContent = el.dataset.expiredText || "支付时间已到，订单即将关闭。";
    el.classList.add("expired");
    var buttons = document.querySelectorAll("form.method button, #confirm-insurance, #pay-rest");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
  }
  tick();
})();
