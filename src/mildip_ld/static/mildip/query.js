// The query page: Yasgui against this server's /sparql, example queries, download and share links.
// No inline script (the page's Content-Security-Policy allows only this server's files).
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("query-config").textContent);
  var endpoint = new URL(config.endpoint, window.location.href).href;
  var PUBLIC_BASE = "https://w3id.org/mildip/";
  var root = new URL(config.endpoint.replace(/sparql$/, ""), window.location.href).href;

  // Class and property completion would call an outside vocabulary service: keep the rest.
  Yasgui.Yasqe.defaults.autocompleters = Yasgui.Yasqe.defaults.autocompleters.filter(function (name) {
    return name !== "class" && name !== "property";
  });

  // Tabs are kept in the browser's storage: a path without the host keeps them working wherever
  // the server is reached from (another host name or port).
  var yasgui = new Yasgui(document.getElementById("yasgui"), {
    requestConfig: { endpoint: config.endpoint, method: "POST" },
    copyEndpointOnNewTab: false,
    endpointCatalogueOptions: { getData: function () { return [{ endpoint: config.endpoint }]; } },
    persistenceId: "mildip-yasgui",
    populateFromUrl: true
  });

  function currentQuery() {
    var tab = yasgui.getTab();
    return tab ? tab.getQuery() : "";
  }

  function queryType() {
    var tab = yasgui.getTab();
    var yasqe = tab && tab.getYasqe();
    return yasqe && yasqe.getQueryType ? String(yasqe.getQueryType() || "").toUpperCase() : "";
  }

  // Download links: the same query run again by /sparql in the chosen format.
  function updateLinks() {
    var query = currentQuery();
    var graph = queryType() === "CONSTRUCT" || queryType() === "DESCRIBE";
    var formats = graph ? config.graphDownloads : config.resultDownloads;
    var holder = document.getElementById("download-links");
    holder.textContent = "";
    formats.forEach(function (entry) {
      var link = document.createElement("a");
      link.href = endpoint + "?query=" + encodeURIComponent(query) + "&format=" + entry[1];
      link.textContent = entry[0];
      link.className = "download";
      link.setAttribute("data-format", entry[1]);
      holder.appendChild(link);
    });
    var share = document.getElementById("share-link");
    share.href = window.location.pathname + "?query=" + encodeURIComponent(query);
  }

  // Links to the project's IRIs go to this server (the w3id redirect points here in production).
  function localize(node) {
    var anchors = node.querySelectorAll ? node.querySelectorAll('a[href^="' + PUBLIC_BASE + '"]') : [];
    Array.prototype.forEach.call(anchors, function (a) {
      var iri = a.getAttribute("href");
      a.setAttribute("href", root + iri.slice(PUBLIC_BASE.length));
      a.setAttribute("title", iri);
      a.removeAttribute("target");
    });
  }
  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      Array.prototype.forEach.call(change.addedNodes, localize);
    });
  }).observe(document.getElementById("yasgui"), { childList: true, subtree: true });

  document.getElementById("examples").addEventListener("change", function (event) {
    var name = event.target.value;
    var example = config.examples.filter(function (e) { return e.name === name; })[0];
    if (!example) { return; }
    yasgui.addTab(true, { name: example.name, yasqe: { value: example.text } });
    event.target.value = "";
    updateLinks();
  });

  document.getElementById("copy-share").addEventListener("click", function () {
    var link = new URL(document.getElementById("share-link").getAttribute("href"), window.location.href).href;
    if (navigator.clipboard) { navigator.clipboard.writeText(link); }
  });

  function watch(tab) {
    var yasqe = tab && tab.getYasqe();
    if (yasqe && !yasqe.__mildipWatched) {
      yasqe.__mildipWatched = true;
      yasqe.on("change", updateLinks);
    }
    updateLinks();
  }
  yasgui.on("tabChange", function (instance, tab) { watch(tab); });
  yasgui.on("tabSelect", function () { window.setTimeout(function () { watch(yasgui.getTab()); }, 0); });
  yasgui.on("queryResponse", function () { updateLinks(); localize(document.getElementById("yasgui")); });
  watch(yasgui.getTab());
  window.mildipYasgui = yasgui;
})();
