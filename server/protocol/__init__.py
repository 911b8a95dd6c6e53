"""rest-json, written once from the service model; nothing here knows about Lookout for Vision."""
