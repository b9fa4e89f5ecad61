"""Layer 2, the pipeline: sources -> assertions -> validate -> infer (knows no HTTP)."""
