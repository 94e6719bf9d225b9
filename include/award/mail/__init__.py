"""Mail: inbound decoding, the outbox and its templates."""
