// Replaced by the libpq wrapper.
