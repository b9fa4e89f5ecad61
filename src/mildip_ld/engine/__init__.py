"""Layer 4, the query engine: worker processes, their pool, a remote store, query safety."""
