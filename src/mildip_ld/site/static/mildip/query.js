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

  // Tab and Shift-Tab leave the editor (no keyboard trap): CodeMirror lets the browser move the
  // focus for a key bound to false. The editor indents new lines itself; Esc also leaves it.
  Yasgui.Yasqe.defaults.extraKeys = Object.assign({}, Yasgui.Yasqe.defaults.extraKeys,
                                                  { Tab: false, "Shift-Tab": false });

  // Every failed query shows its HTTP status and the server's message in the result pane. Yasgui
  // throws the status away (it raises an Error with the response's text), so the page's own fetch
  // of the endpoint keeps the status of each failed answer under its text, for the renderer below.
  var failures = new Map();
  var nativeFetch = window.fetch.bind(window);
  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : input && input.url;
    var answer = nativeFetch(input, init);
    if (!url || url.split("?")[0] !== endpoint) { return answer; }
    return answer.then(function (response) {
      if (response.ok) { return response; }
      return response.clone().text().then(function (text) {
        failures.set(text || response.statusText, { status: response.status, statusText: response.statusText });
        return response;
      });
    });
  };

  function renderFailure(error) {
    var text = error && error.text ? String(error.text) : "";
    var known = failures.get(text);
    var box = document.createElement("div");
    box.className = "query-error";
    box.setAttribute("role", "alert");
    var title = document.createElement("p");
    title.className = "query-error-status";
    var message = document.createElement("pre");
    message.className = "query-error-message";
    if (known) {
      title.textContent = "The server refused this query: HTTP " + known.status +
        (known.statusText ? " " + known.statusText : "");
      message.textContent = text;
    } else {
      title.textContent = "The server could not be reached (no answer).";
      message.textContent = text || "The request failed before any answer arrived.";
    }
    box.appendChild(title);
    box.appendChild(message);
    return Promise.resolve(box);
  }
  Yasgui.Yasr.defaults.errorRenderers = [renderFailure];

  // Yasgui gets the absolute URL of this server's endpoint: its error display parses the endpoint
  // with `new URL()`, which throws on a bare path (and then shows nothing at all). Tabs are kept
  // in the browser's storage; each is pointed at this server's endpoint again on load, so a tab
  // kept while the server was reached under another host name or port still works.
  var yasgui = new Yasgui(document.getElementById("yasgui"), {
    requestConfig: { endpoint: endpoint, method: "POST" },
    copyEndpointOnNewTab: false,
    endpointCatalogueOptions: { getData: function () { return [{ endpoint: endpoint }]; } },
    persistenceId: "mildip-yasgui",
    populateFromUrl: true,
    autofocus: false
  });
  Object.keys(yasgui._tabs || {}).forEach(function (id) {
    var tab = yasgui.getTab(id);
    if (tab && tab.getEndpoint && tab.getEndpoint() !== endpoint) { tab.setEndpoint(endpoint); }
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
