"""Layer 5, curation: validated writes (commit, writer process) and Wikidata links."""
