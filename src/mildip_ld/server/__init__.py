"""Layer 6, the HTTP server: SPARQL 1.1 Protocol, Graph Store, security, metrics, cache."""
