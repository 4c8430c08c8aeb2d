// Apply the remembered theme before first paint so there is no flash. A file of its own, not an
// inline script: the server's Content-Security-Policy allows scripts from this origin only.
try {
  var t = localStorage.getItem("palaver.theme");
  if (t === "light" || t === "dark") document.documentElement.dataset.theme = t;
} catch (e) {}
