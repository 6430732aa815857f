// Replaced by the JSON value and codec.
