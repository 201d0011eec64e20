// The offline page (templates/offline.html): back to where the member was once the network is.
window.addEventListener("online", function () { location.reload(); });
