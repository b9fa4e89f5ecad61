"""Layer 1, vocabulary and formats: IRIs, terms, RDF formats, configuration, settings."""
