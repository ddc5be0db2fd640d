// The camera page of a record-copy application (REC-1): photos come only from the live
// camera. Before each shot the page asks the server for a capture token; the shot is
// drawn from the video into a canvas and sent with that token, which the server spends
// once. There is no file input, so nothing can be picked from the album.
(function () {
  var box = document.getElementById("camera");
  if (!box) return;
  var no = box.dataset.no;
  var video = document.getElementById("video");
  var shoot = document.getElementById("shoot");
  var label = document.getElementById("camera-doc");
  var errorBox = document.getElementById("camera-error");
  var stream = null;
  var documentName = null;

  function say(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function stop() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    box.hidden = true;
  }

  function open(doc, text) {
    say("");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say("当前浏览器无法使用摄像头，请在微信中打开或更换手机浏览器。");
      return;
    }
    documentName = doc;
    label.textContent = "请拍摄：" + text + "（将证件放入框内）";
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: "environment", width: { ideal: 1600 }, height: { ideal: 1200 }, aspectRatio: { ideal: 4 / 3 } }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        box.hidden = false;
        box.scrollIntoView();
      })
      .catch(function () { say("未能打开摄像头，请在手机设置中允许访问摄像头后重试。"); });
  }

  function token() {
    var body = new URLSearchParams();
    body.set("document", documentName);
    return fetch("/records/" + encodeURIComponent(no) + "/capture-token", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: body.toString()
    }).then(function (r) {
      if (!r.ok) return r.json().then(function (e) { throw new Error(e.message || "拍摄未能开始，请刷新后重试。"); });
      return r.json();
    });
  }

  function frame() {
    return new Promise(function (resolve, reject) {
      var w = video.videoWidth, h = video.videoHeight;
      if (!w || !h) { reject(new Error("摄像头尚未就绪，请稍候再拍。")); return; }
      var canvas = document.createElement("canvas");
      canvas.width = w;
      canvas.height = h;
      canvas.getContext("2d").drawImage(video, 0, 0, w, h);
      canvas.toBlob(function (b) { b ? resolve(b) : reject(new Error("拍摄失败，请重试。")); }, "image/jpeg", 0.92);
    });
  }

  shoot.addEventListener("click", function () {
    shoot.disabled = true;
    say("");
    Promise.all([token(), frame()])
      .then(function (r) {
        return fetch("/records/" + encodeURIComponent(no) + "/photos/" + encodeURIComponent(documentName), {
          method: "POST",
          credentials: "same-origin",
          headers: { "content-type": "image/jpeg", "x-capture-token": r[0].token, accept: "application/json" },
          body: r[1]
        });
      })
      .then(function (r) {
        if (r.ok) { stop(); window.location.reload(); return; }
        return r.json().then(function (e) { throw new Error(e.message || "照片未能上传，请重拍。"); });
      })
      .catch(function (e) { say(e.message); })
      .then(function () { shoot.disabled = false; });
  });

  document.getElementById("camera-cancel").addEventListener("click", stop);
  var buttons = document.querySelectorAll("button.take");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (ev) {
      var b = ev.currentTarget;
      open(b.dataset.document, b.dataset.label);
    });
  }
})();
