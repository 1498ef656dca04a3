"""Protection of the MAG<->LMA signaling (RFC 5213 §4): IPsec ESP in transport mode."""
