"""Each channel kind's connector to its service: what comes in (the LINE and Instagram webhooks,
the SMTP listener, the web chat) ending in ``connectors.inbound.receive``, the one way in, and the
adapter each kind sends through. Above the conversations they write into; the channels' own
records, kinds and outbox (``madoguchi.channels``) sit below them."""
