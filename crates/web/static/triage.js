// The triage desk (FACE-2): the desk camera's picture is posted as a JPEG and the answer
// says which page to show (the bookings found, or the other ways). The ticket page's
// print button. Nothing here decides anything: the server does.
(function () {
  var print = document.getElementById("print");
  if (print) print.addEventListener("click", function () { window.print(); });

  var desk = document.getElementById("desk");
  var scan = document.getElementById("scan");
  if (!desk || !scan) return;
  var video = document.getElementById("video");
  var errorBox = document.getElementById("scan-error");
  function say(text) { errorBox.textContent = text; errorBox.hidden = !text; }

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say("此电脑无法使用摄像头，请使用身份证或预约号办理。");
    return;
  }
  navigator.mediaDevices
    .getUserMedia({ video: { width: { ideal: 960 }, height: { ideal: 720 } }, audio: false })
    .then(function (s) { video.srcObject = s; scan.disabled = false; })
    .catch(function () { say("未能打开摄像头，请使用身份证或预约号办理。"); });

  scan.addEventListener("click", function () {
    var w = video.videoWidth, h = video.videoHeight;
    if (!w || !h) { say("摄像头尚未就绪，请稍候。"); return; }
    var canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    canvas.getContext("2d").drawImage(video, 0, 0, w, h);
    scan.disabled = true;
    say("");
    canvas.toBlob(function (jpeg) {
      fetch("/staff/triage/scan?depts=" + encodeURIComponent(desk.dataset.depts), {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "image/jpeg", accept: "application/json" },
        body: jpeg
      })
        .then(function (r) {
          return r.json().then(function (body) {
            if (r.ok) { window.location.assign(body.next); return; }
            throw new Error(body.message || "识别未成功，请重试或使用身份证办理。");
          });
        })
        .catch(function (e) { say(e.message); scan.disabled = false; });
    }, "image/jpeg", 0.9);
  });
})();
