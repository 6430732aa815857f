// Replaced by the configuration reader.
