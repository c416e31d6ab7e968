// The demo site's script, served from /static/app.js: it proves the browser ran it.
document.addEventListener("DOMContentLoaded", () => {
  const note = document.getElementById("js-note");
  if (note) {
    note.textContent = "This line was written by /static/app.js: the script arrived and ran.";
    note.className = "served-by-js";
  }
});
