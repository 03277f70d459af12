"""Turn source articles into a clean, incrementally synced Chroma index."""
