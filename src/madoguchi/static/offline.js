// The offline page (templates/offline.html): back to the page the member asked for once the
// server answers again (the browser's "online" event alone is not always told to this page).
function tryAgain() {
  fetch("/offline", { cache: "no-store", credentials: "same-origin" })
    .then(function (response) { if (response.ok) location.reload(); })
    .catch(function () { /* still offline */ });
}
window.addEventListener("online", tryAgain);
setInterval(function () { if (navigator.onLine !== false) tryAgain(); }, 2000);
