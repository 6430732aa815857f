// Replaced by the AMQP wrapper.
