"""Madoguchi: a self-hosted multi-channel 1:1 chat inbox with a customer CRM."""

__version__ = "0.1.0"
