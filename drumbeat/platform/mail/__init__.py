"""Outgoing email for every action that sends one: the MIME builder and the transports
(SMTP with a connection pool, or an outbox folder). Plugins use it through ``drumbeat``."""
