"""Layer 7, web pages: resource pages, ontology, dumps, query and explanation pages, the app."""
