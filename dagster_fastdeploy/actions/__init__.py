"""Client-side use cases the commands call: deploy, rollback, gc, dev, and provenance (who and
what deployed a version). Each talks to a store and, optionally, to a warm host."""
