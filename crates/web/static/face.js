// The face capture page (FACE-1): one live picture from the front camera, drawn from the
// video into a canvas and sent as a JPEG for the identity check and enrolment. There is
// no file input: the engine's liveness check refuses a picture of a picture anyway.
(function () {
  var box = document.getElementById("face-camera");
  if (!box) return;
  var patient = box.dataset.patient;
  var video = document.getElementById("video");
  var shoot = document.getElementById("shoot");
  var errorBox = document.getElementById("camera-error");
  var busy = document.getElementById("camera-busy");

  function say(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say("当前浏览器无法使用摄像头，请在微信中打开，或到院使用身份证、就诊卡办理。");
    return;
  }
  navigator.mediaDevices
    .getUserMedia({ video: { facingMode: "user", width: { ideal: 960 }, height: { ideal: 720 } }, audio: false })
    .then(function (s) {
      video.srcObject = s;
      shoot.disabled = false;
    })
    .catch(function () { say("未能打开摄像头，请在手机设置中允许访问摄像头后重试。"); });

  function frame() {
    return new Promise(function (resolve, reject) {
      var w = video.videoWidth, h = video.videoHeight;
      if (!w || !h) { reject(new Error("摄像头尚未就绪，请稍候再拍。")); return; }
      var canvas = document.createElement("canvas");
      canvas.width = w;
      canvas.height = h;
      canvas.getContext("2d").drawImage(video, 0, 0, w, h);
      canvas.toBlob(function (b) { b ? resolve(b) : reject(new Error("拍摄失败，请重试。")); }, "image/jpeg", 0.9);
    });
  }

  shoot.addEventListener("click", function () {
    shoot.disabled = true;
    busy.hidden = false;
    say("");
    frame()
      .then(function (jpeg) {
        return fetch("/face/" + encodeURIComponent(patient) + "/enrol", {
          method: "POST",
          credentials: "same-origin",
          headers: { "content-type": "image/jpeg", accept: "application/json" },
          body: jpeg
        });
      })
      .then(function (r) {
        return r.json().then(function (body) {
          if (r.ok) { window.location.assign(body.next); return; }
          throw new Error(body.message || "开通未成功，请重试。");
        });
      })
      .catch(function (e) { say(e.message); })
      .then(function () { shoot.disabled = false; busy.hidden = true; });
  });
})();
