"""pmip6d: Proxy Mobile IPv6 (RFC 5213) local mobility anchor and mobile access gateway."""

__version__ = "0.1.0"
