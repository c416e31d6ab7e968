// The demo site's script, under a fingerprinted name: the 8 hex digits before .js are the start of the
// SHA-256 of this file. Change a byte, and the name must change too (app.py names it in PAGE).
document.addEventListener("DOMContentLoaded", () => {
  const note = document.getElementById("js-note");
  if (note) {
    note.textContent = "This line was written by /static/app.js: the script arrived and ran.";
    note.className = "served-by-js";
  }
});
