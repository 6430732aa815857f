// Replaced by the oslo.messaging codec.
