"""Sync with the coordinator over NATS JetStream: the connection, the outbox pump and
the command consumer (docs/protocol.md)."""
