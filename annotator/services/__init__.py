"""Services own every write; each is `<entity>_<verb>(*, ...)` and runs in a transaction."""
