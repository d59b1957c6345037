(function () {
  var button = document.getElementById("copy-rerun");
  if (button) {
    button.addEventListener("click", function () {
      var text = document.getElementById("rerun-command").textContent;
      if (navigator.clipboard) { navigator.clipboard.writeText(text); }
      button.textContent = "copied";
    });
  }
  document.documentElement.setAttribute("data-report-ready", "yes");
})();
