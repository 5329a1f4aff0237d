"""Building params: plist, pgrid, spaces, and hashing psets."""
