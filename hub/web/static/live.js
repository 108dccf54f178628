// Live dashboard: the server says `changed` (server-sent events) when alerts,
// station links or tank states change; the page then reloads itself, unless
// the officer is typing a period. Without JavaScript the page simply does not
// update by itself.
(function () {
  if (!window.EventSource) return;
  var source = new EventSource("/events");
  source.addEventListener("changed", function () {
    var typing = document.activeElement && document.activeElement.tagName === "INPUT";
    if (!typing) window.location.reload();
  });
})();
