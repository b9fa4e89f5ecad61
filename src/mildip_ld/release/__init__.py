"""Layer 3, releases: the build, the on-disk store, dumps, VoID, explanations, publishing."""
